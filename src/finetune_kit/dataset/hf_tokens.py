"""Token counts for open-weights models: each example as the model's own chat template renders it.

`Dataset.validate(model=...)` and `finetune-kit validate --model ...` count with this module when
the model is a folder holding a Hugging Face model (a `config.json` or tokenizer files) or a hub
id (`org/name`) already in the Hugging Face cache; nothing is downloaded. An example counts
exactly what the trainer sees:

- its tokens: `len(tokenizer.apply_chat_template(messages, tools=tools, tokenize=True))`;
- its trained tokens: the tokens of the assistant turns (weight 1), from the template's assistant
  mask (`{% generation %}` markers), or, for a template without them, from the growth of the
  rendering as each assistant turn is added;
- the context: the model config's `max_position_embeddings` (or its equivalent).

Data the template cannot render is an error finding (`template_cannot_render`) with its line and
field: a role the template rejects, `tools` on a template that ignores them, tool calls it drops.

transformers (and its tokenizers) load only when an open-weights model is validated: importing
finetune_kit never imports them, nor torch. Counting runs in the validating process (one worker):
the template is rendered in Python, and Hugging Face tokenizers keep threads of their own, which
forked workers must not inherit.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_kit.dataset.formats import family_of
from finetune_kit.exceptions import ConfigurationError, UnknownModelError

__all__ = [
    "EncodedChat",
    "OpenWeights",
    "TemplateCounter",
    "encode_chat",
    "is_open_weights",
    "load_tokenizer",
    "open_weights",
    "template_messages",
]

_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "seq_length",
    "max_seq_len",
)
_NO_LIMIT = 1_000_000_000
"""A tokenizer's `model_max_length` from here on means "not set" (transformers writes 1e30)."""
_INSTALL = "pip install 'finetune-kit[local]'  (or: uv sync --extra local)"


def is_open_weights(model: str) -> bool:
    """Whether `model` names an open-weights model: a model folder, or a hub id `org/name`.

    Pure but for one look at the file system; imports nothing heavy. Hosted model names
    (`gpt-4o-mini-2024-07-18`, `ft:...`, Azure's) never contain a `/`.

    >>> is_open_weights("gpt-4o-mini-2024-07-18")
    False
    >>> is_open_weights("Qwen/Qwen2.5-0.5B-Instruct")
    True
    """
    text = model.strip()
    path = Path(text).expanduser()
    if path.is_dir():
        return True
    return _HUB_ID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class OpenWeights:
    """An open-weights model resolved for token counting (picklable: no tokenizer inside)."""

    name: str
    """The model as given."""
    location: str
    """The folder (absolute), or the hub id, that the tokenizer loads from."""
    context: int | None
    """Positions the model takes (its config's `max_position_embeddings`), `None` if unknown."""
    generation_marks: bool
    """Whether the chat template marks assistant turns with `{% generation %}`."""


def _transformers() -> Any:
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise ConfigurationError(
            "counting tokens for an open-weights model needs transformers, which the "
            f"`local` extra installs: {_INSTALL}"
        ) from None


def _location(model: str) -> str:
    text = model.strip()
    path = Path(text).expanduser()
    if path.is_dir():
        if not any((path / name).is_file() for name in _MODEL_FILES):
            raise ConfigurationError(
                f"{path} is a folder but holds no model: expected {', '.join(_MODEL_FILES)} "
                "(a folder written by save_pretrained, or a snapshot from the hub)"
            )
        return str(path.resolve())
    if _HUB_ID.fullmatch(text) is None:
        raise UnknownModelError(
            f"{text!r} is neither a model folder nor a hub id (org/name)", model=model
        )
    return text


@functools.lru_cache(maxsize=8)
def load_tokenizer(location: str) -> Any:
    """Load (once per process) the tokenizer of a model folder or of a cached hub id.

    Never downloads: a hub id must already be in the Hugging Face cache.

    Raises:
        ConfigurationError: transformers is not installed, or the tokenizer can't be loaded.
        UnknownModelError: A hub id that is not in the cache.
    """
    transformers = _transformers()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(location, local_files_only=True)
    except OSError as exc:
        if Path(location).is_dir():
            raise ConfigurationError(
                f"can't load the tokenizer of {location}: {_first_line(exc)}"
            ) from None
        raise UnknownModelError(
            f"{location!r} is not a folder, and the Hugging Face cache holds no copy of it "
            "(validation never downloads): download it first (`hf download "
            f"{location}`), or give the model's folder",
            model=location,
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"can't load the tokenizer of {location}: {_first_line(exc)}"
        ) from None
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigurationError(
            f"the tokenizer of {location} has no chat template, so chat data can't be "
            "rendered for it: use the instruct (chat) variant of the model"
        )
    return tokenizer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _context(location: str, tokenizer: Any) -> int | None:
    transformers = _transformers()
    try:
        config = transformers.AutoConfig.from_pretrained(location, local_files_only=True)
    except (OSError, ValueError, KeyError):
        config = None
    if config is not None:
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        for key in _CONTEXT_KEYS:
            value = getattr(text_config, key, None)
            if isinstance(value, int) and value > 0:
                return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _NO_LIMIT:
        return limit
    return None


def open_weights(model: str) -> OpenWeights:
    """Resolve an open-weights model (folder or cached hub id) and load its tokenizer.

    Raises:
        ConfigurationError: transformers is missing; the folder holds no model; the tokenizer
            has no chat template.
        UnknownModelError: A hub id that is not in the Hugging Face cache.
    """
    location = _location(model)
    tokenizer = load_tokenizer(location)
    return OpenWeights(
        name=model,
        location=location,
        context=_context(location, tokenizer),
        generation_marks=_GENERATION.search(str(tokenizer.chat_template)) is not None,
    )


# --- rendering ----------------------------------------------------------------------------------


def _text(content: Any) -> Any:
    """A message's content as the templates expect it: a string (text parts joined)."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return content


def _tool_call(call: Any) -> Any:
    """OpenAI's tool call, its JSON `arguments` string decoded into the object templates expect."""
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    function = dict(call["function"])
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            function["arguments"] = decoded
    return {**call, "function": function}


def template_messages(messages: Sequence[Any]) -> tuple[list[dict[str, Any]], list[bool]]:
    """OpenAI-format messages as chat templates take them, and which of them are trained.

    Content parts are joined into one string (images dropped), `null` content becomes `""`,
    tool-call `arguments` (a JSON string) become objects, and `weight` is taken out: the second
    list says, per message, whether it is an assistant turn with weight 1 (the default).
    """
    out: list[dict[str, Any]] = []
    trained: list[bool] = []
    for message in messages:
        msg = dict(message) if isinstance(message, dict) else {"content": message}
        weight = msg.pop("weight", 1)
        msg["content"] = _text(msg.get("content"))
        if isinstance(msg.get("tool_calls"), list):
            msg["tool_calls"] = [_tool_call(c) for c in msg["tool_calls"]]
        out.append(msg)
        trained.append(msg.get("role") == "assistant" and weight != 0)
    return out, trained


@dataclass(frozen=True, slots=True)
class EncodedChat:
    """A conversation as the trainer sees it: its token ids and which of them are trained."""

    input_ids: list[int]
    trained: list[int]
    """1 for each token of an assistant turn of weight 1 (content and end of turn), else 0."""


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, **kwargs: Any) -> Any:
    return tokenizer.apply_chat_template(
        messages, tools=tools or None, tokenize=True, return_dict=True, **kwargs
    )


def encode_chat(
    tokenizer: Any,
    messages: Sequence[Any],
    tools: Sequence[Any] | None = None,
    *,
    generation_marks: bool | None = None,
) -> EncodedChat:
    """Encode an OpenAI-format conversation with the tokenizer's chat template.

    The ids are exactly `tokenizer.apply_chat_template(messages, tools=tools, tokenize=True)`.
    Trained tokens come from the template's `{% generation %}` marks (assistant turns of weight
    0 unmarked); for a template without marks, each assistant turn of weight 1 is the tokens it
    adds to the rendering of the conversation before it (with the generation prompt).

    Raises:
        Exception: Whatever the template raises on data it can't render.
    """
    msgs, trained = template_messages(messages)
    marks = (
        _GENERATION.search(str(tokenizer.chat_template)) is not None
        if generation_marks is None
        else generation_marks
    )
    encoded = _render(tokenizer, msgs, tools, return_assistant_tokens_mask=marks)
    ids = list(encoded["input_ids"])
    if marks:
        mask = [int(bool(m)) for m in encoded["assistant_masks"]]
        assistants = [i for i, m in enumerate(msgs) if m.get("role") == "assistant"]
        if all(trained[i] for i in assistants):
            return EncodedChat(ids, mask)
        runs = _runs(mask)
        if len(runs) == len(assistants):
            for (start, stop), i in zip(runs, assistants, strict=True):
                if not trained[i]:
                    mask[start:stop] = [0] * (stop - start)
            return EncodedChat(ids, mask)
    mask = [0] * len(ids)
    for i in range(len(msgs)):
        if not trained[i]:
            continue
        start = len(_render(tokenizer, msgs[:i], tools, add_generation_prompt=True)["input_ids"])
        stop = len(_render(tokenizer, msgs[: i + 1], tools)["input_ids"])
        mask[start:stop] = [1] * (max(stop, start) - start)
    return EncodedChat(ids, mask[: len(ids)])


def _runs(mask: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(mask)))
    return runs


# --- counting for validation --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the template can't render an example: the field, and what to say."""

    field: str | None
    message: str


class TemplateCounter:
    """Counts examples with an open-weights model's chat template, as its trainer sees them."""

    def __init__(self, model: OpenWeights) -> None:
        self.model = model
        self.tokenizer = load_tokenizer(model.location)
        self.marks = model.generation_marks

    def count(self, obj: dict[str, Any]) -> tuple[int, int] | Rejection:
        """(tokens, trained tokens) of one parsed, checked row; or why it can't be rendered.

        Supervised chat rows: the conversation. Preference pairs: the longer of input +
        preferred output and input + non-preferred output (what must fit the context), and its
        output's tokens. Reinforcement rows: the messages with the generation prompt (nothing
        trained). prompt/completion rows: the two strings, as plain text.
        """
        try:
            return self._count(obj)
        except Exception as exc:  # noqa: BLE001 - a template may raise anything on odd data
            return Rejection(
                None,
                f"the chat template of {self.model.name} can't render this example: "
                f"{type(exc).__name__}: {_first_line(exc)[:200]}",
            )

    def _count(self, obj: dict[str, Any]) -> tuple[int, int] | Rejection:
        if "messages" in obj:
            messages = obj["messages"]
            tools = obj.get("tools")
            rejected = self._rejection(messages, tools, "")
            if rejected is not None:
                return rejected
            if family_of(obj) == "chat":
                encoded = encode_chat(self.tokenizer, messages, tools, generation_marks=self.marks)
                return len(encoded.input_ids), sum(encoded.trained)
            msgs, _ = template_messages(messages)
            rendered = _render(self.tokenizer, msgs, tools, add_generation_prompt=True)
            return len(rendered["input_ids"]), 0
        if "input" in obj:
            return self._pair(obj)
        return self._completion(obj)

    def _pair(self, obj: dict[str, Any]) -> tuple[int, int] | Rejection:
        inp = obj.get("input") or {}
        messages = list(inp.get("messages") or [])
        tools = inp.get("tools")
        best = (0, 0)
        for key in ("preferred_output", "non_preferred_output"):
            spec = key.replace("_output", "_completion")
            name = key if key in obj or spec not in obj else spec
            output = list(obj.get(name) or [])[:1]
            rejected = self._rejection([*messages, *output], tools, "input.", len(messages), name)
            if rejected is not None:
                return rejected
            msgs, _ = template_messages([*messages, *output])
            prompt = _render(
                self.tokenizer, msgs[: len(messages)], tools, add_generation_prompt=True
            )
            full = _render(self.tokenizer, msgs, tools)
            tokens = len(full["input_ids"])
            best = max(best, (tokens, tokens - len(prompt["input_ids"])))
        return best

    def _completion(self, obj: dict[str, Any]) -> tuple[int, int]:
        prompt, completion = (
            value if isinstance(value := obj.get(key), str) else ""
            for key in ("prompt", "completion")
        )
        total = len(self.tokenizer(prompt + completion)["input_ids"])
        return total, total - len(self.tokenizer(prompt)["input_ids"])

    def _rejection(
        self,
        messages: list[Any],
        tools: Any,
        prefix: str,
        outputs_from: int | None = None,
        output_key: str = "",
    ) -> Rejection | None:
        """Why the template can't render `messages` (with `tools`), or `None` when it can."""
        msgs, _ = template_messages(messages)

        def where(i: int) -> str:
            if outputs_from is not None and i >= outputs_from:
                return f"{output_key}[{i - outputs_from}]"
            return f"{prefix}messages[{i}]"

        label = self.model.name
        try:
            with_tools = _render(self.tokenizer, msgs, tools)
        except Exception as exc:  # noqa: BLE001 - a template may raise anything
            bad = self._first_failing(msgs, tools)
            role = msgs[bad].get("role") if bad is not None else None
            field = where(bad) if bad is not None else f"{prefix}messages"
            what = f" (role {role!r})" if role is not None else ""
            return Rejection(
                field,
                f"the chat template of {label} can't render this example{what}: "
                f"{_first_line(exc)[:200]}",
            )
        ids = with_tools["input_ids"]
        if tools and list(_render(self.tokenizer, msgs, None)["input_ids"]) == list(ids):
            return Rejection(
                f"{prefix}tools",
                f"the chat template of {label} ignores tools: the model would train without "
                "them; drop 'tools' (and tool calls), or pick a model whose template has tools",
            )
        for i, msg in enumerate(msgs):
            if msg.get("tool_calls"):
                without = [*msgs[:i], {**msg, "tool_calls": None}, *msgs[i + 1 :]]
                try:
                    dropped = list(_render(self.tokenizer, without, tools)["input_ids"]) == list(
                        ids
                    )
                except Exception:  # noqa: BLE001 - a template may raise anything
                    dropped = False
                if dropped:
                    return Rejection(
                        f"{where(i)}.tool_calls",
                        f"the chat template of {label} drops tool calls: the model would not "
                        "learn them; pick a model whose template renders tool calls",
                    )
        return None

    def _first_failing(self, msgs: list[dict[str, Any]], tools: Any) -> int | None:
        """The first message whose addition makes the template raise, if one does."""
        for i in range(1, len(msgs) + 1):
            try:
                _render(self.tokenizer, msgs[:i], tools)
            except Exception:  # noqa: BLE001, PERF203 - a template may raise anything
                return i - 1
        return None
