"""The local inference engine: chat completions from a base model, with or without an adapter.

```python
engine = InferenceEngine(device="auto")
model = ServedModel("ft:tiny:local:echo:abc123", "path/to/base", adapter=Path("job/model"))
[choice] = engine.complete(model, [{"role": "user", "content": "Hi"}], ChatParams(temperature=0))
for piece in engine.stream(model, messages, ChatParams(max_tokens=20)):
    print(piece, end="")
```

Models load with transformers (`AutoModelForCausalLM`) once and stay loaded (the
`max_loaded_models` most recently used bases); adapters are PEFT adapters loaded into their base
model by name, so a base and all its tuned versions share one copy of the weights. The prompt
is the tokenizer's chat template with the generation prompt (tools included). `temperature=0`
is greedy decoding; `n` answers come from one `generate` call (`num_return_sequences`), seeded
by `seed`; a `stop` string ends an answer (`finish_reason="stop"`, the stop string left out), as
does the end-of-turn token; `max_tokens` reached gives `"length"`.

Generation runs in the calling process (no worker), one request at a time (a lock).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_kit.exceptions import ConfigurationError
from finetune_kit.local.events import ChatParams, Choice, ServedModel
from finetune_kit.local.worker import require

__all__ = ["DEFAULT_MAX_TOKENS", "InferenceEngine"]

DEFAULT_MAX_TOKENS = 1024
"""Tokens generated at most when a request gives no `max_tokens` (less if the context is full)."""


@dataclass(slots=True)
class _Loaded:
    model: Any
    tokenizer: Any
    context: int
    eos_ids: list[int]
    adapters: set[str] = field(default_factory=set)


class InferenceEngine:
    """Answers chat requests with transformers, in this process.

    Args:
        device: `"auto"` (a GPU when torch sees one, else the CPU), `"cpu"` or `"cuda"`.
        max_loaded_models: Base models kept loaded (least recently used ones are dropped).

    Added in 0.1.0.
    """

    def __init__(self, *, device: str = "auto", max_loaded_models: int = 2) -> None:
        self.device = device
        self.max_loaded_models = max(1, max_loaded_models)
        self._lock = threading.Lock()
        self._bases: OrderedDict[str, _Loaded] = OrderedDict()

    # --- the contract -----------------------------------------------------------------------

    def load(self, model: ServedModel) -> None:
        """Load `model` now (a clear `ConfigurationError` when it is not a causal LM)."""
        with self._lock:
            self._select(model)

    def complete(
        self,
        model: ServedModel,
        messages: Sequence[Any],
        params: ChatParams,
        *,
        tools: Sequence[Any] | None = None,
    ) -> list[Choice]:
        """Answer `messages` with `params.n` choices."""
        torch = require("torch")
        with self._lock:
            loaded = self._select(model)
            prompt = self._prompt(loaded, messages, tools)
            kwargs = self._generation_kwargs(loaded, prompt, params)
            if params.seed is not None:
                torch.manual_seed(params.seed)
            sampling = params.temperature > 0
            count = params.n if sampling else 1
            with torch.no_grad(), _quiet():
                output = loaded.model.generate(
                    **kwargs, num_return_sequences=count, return_dict_in_generate=False
                )
            width = int(prompt["input_ids"].shape[1])
            choices = [
                self._choice(loaded, row[width:].tolist(), width, params, kwargs) for row in output
            ]
        return choices if sampling else choices * params.n

    def stream(
        self,
        model: ServedModel,
        messages: Sequence[Any],
        params: ChatParams,
        *,
        tools: Sequence[Any] | None = None,
        on_finish: Callable[[Choice], None] | None = None,
    ) -> Generator[str, None, None]:
        """Yield the text of one answer as it is generated (`params.n` is ignored).

        `on_finish` receives the whole answer (text, finish reason, token counts) at the end.
        Closing the iterator early stops the generation.
        """
        torch = require("torch")
        transformers = require("transformers")
        with self._lock:
            loaded = self._select(model)
            prompt = self._prompt(loaded, messages, tools)
            stop_now = threading.Event()
            kwargs = self._generation_kwargs(loaded, prompt, params, stop_now)
            if params.seed is not None:
                torch.manual_seed(params.seed)
            streamer = transformers.TextIteratorStreamer(
                loaded.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
            )
            result: dict[str, Any] = {}

            def generate() -> None:
                try:
                    with torch.no_grad(), _quiet():
                        result["output"] = loaded.model.generate(**kwargs, streamer=streamer)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                    result["error"] = exc
                    streamer.end()

            thread = threading.Thread(target=generate, name="finetune-kit-generate", daemon=True)
            thread.start()
            pieces = _Drained(streamer)
            try:
                yield from _until_stop(pieces, params.stop, stop_now)
            finally:
                stop_now.set()
                pieces.drain()  # generate() ends at its next token; take what it still queued
                thread.join()
            if "error" in result:
                raise result["error"]
            if on_finish is not None:
                width = int(prompt["input_ids"].shape[1])
                row = result["output"][0][width:].tolist()
                on_finish(self._choice(loaded, row, width, params, kwargs))

    def close(self) -> None:
        """Unload every model."""
        with self._lock:
            self._bases.clear()
            torch = require("torch")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    # --- models -----------------------------------------------------------------------------

    def _device(self, torch: Any) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def _select(self, served: ServedModel) -> _Loaded:
        """The loaded base of `served`, with its adapter active (or every adapter off)."""
        with _quiet():
            return self._activate(served)

    def _activate(self, served: ServedModel) -> _Loaded:
        loaded = self._bases.get(served.base_path_or_id)
        if loaded is None:
            loaded = self._load_base(served.base_path_or_id)
            self._bases[served.base_path_or_id] = loaded
            while len(self._bases) > self.max_loaded_models:
                self._bases.popitem(last=False)
        self._bases.move_to_end(served.base_path_or_id)
        if served.adapter is None:
            if loaded.adapters:
                loaded.model.base_model.disable_adapter_layers()
            return loaded
        name = _adapter_name(served.adapter)
        if name not in loaded.adapters:
            peft = require("peft")
            try:
                if loaded.adapters:
                    loaded.model.load_adapter(str(served.adapter), adapter_name=name)
                else:
                    loaded.model = peft.PeftModel.from_pretrained(
                        loaded.model, str(served.adapter), adapter_name=name
                    )
            except Exception as exc:  # a clear message instead of PEFT's depths
                raise ConfigurationError(
                    f"{served.name}: cannot load the adapter in {served.adapter} "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            loaded.model.eval()
            loaded.adapters.add(name)
        loaded.model.base_model.enable_adapter_layers()
        loaded.model.set_adapter(name)
        return loaded

    def _load_base(self, location: str) -> _Loaded:
        torch = require("torch")
        transformers = require("transformers")
        device = self._device(torch)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(location)
            dtype = (
                torch.bfloat16
                if device.startswith("cuda") and torch.cuda.is_bf16_supported()
                else torch.float32
            )
            model = transformers.AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigurationError(
                f"{location} is not a causal language model transformers can load "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigurationError(f"{location}: its tokenizer has no chat template")
        model.to(device)
        model.eval()
        eos: list[int] = []
        for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
            for token in source if isinstance(source, list) else [source]:
                if isinstance(token, int) and token not in eos:
                    eos.append(token)
        context = int(
            getattr(model.config, "max_position_embeddings", 0)
            or getattr(tokenizer, "model_max_length", 0)
            or 4096
        )
        return _Loaded(model, tokenizer, context, eos)

    # --- generation -------------------------------------------------------------------------

    def _prompt(self, loaded: _Loaded, messages: Sequence[Any], tools: Sequence[Any] | None) -> Any:
        from finetune_kit.dataset.hf_tokens import template_messages  # noqa: PLC0415

        converted, _ = template_messages(messages)
        text = loaded.tokenizer.apply_chat_template(
            converted,
            tools=list(tools) if tools else None,
            tokenize=False,
            add_generation_prompt=True,
        )
        encoded = loaded.tokenizer(text, add_special_tokens=False, return_tensors="pt")
        device = next(loaded.model.parameters()).device
        return {k: v.to(device) for k, v in encoded.items()}

    def _generation_kwargs(
        self,
        loaded: _Loaded,
        prompt: Any,
        params: ChatParams,
        stop_now: threading.Event | None = None,
    ) -> dict[str, Any]:
        width = int(prompt["input_ids"].shape[1])
        room = loaded.context - width
        if room < 1:
            raise ConfigurationError(
                f"the prompt has {width} tokens: it fills the model's context of {loaded.context}"
            )
        wanted = params.max_tokens if params.max_tokens is not None else DEFAULT_MAX_TOKENS
        pad = loaded.tokenizer.pad_token_id
        kwargs: dict[str, Any] = {
            **prompt,
            "max_new_tokens": min(wanted, room),
            "eos_token_id": loaded.eos_ids,
            "pad_token_id": pad if pad is not None else loaded.eos_ids[0],
        }
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        criteria: list[Any] = [_Flag(stop_now)] if stop_now is not None else []
        if params.stop:
            criteria.append(_StopStrings(params.stop, loaded.tokenizer, width))
        if criteria:
            transformers = require("transformers")
            kwargs["stopping_criteria"] = transformers.StoppingCriteriaList(criteria)
        return kwargs

    def _choice(
        self,
        loaded: _Loaded,
        generated: list[int],
        prompt_tokens: int,
        params: ChatParams,
        kwargs: dict[str, Any],
    ) -> Choice:
        ended = False
        tokens: list[int] = []
        for token in generated:
            if token in loaded.eos_ids:
                ended = True
                break
            tokens.append(token)
        text = loaded.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = _first_stop(text, params.stop)
        if cut is not None:
            text, ended = text[:cut], True
        elif not ended and len(tokens) < kwargs["max_new_tokens"]:
            ended = True  # stopped by a criterion other than the length
        completion = len(tokens) + (1 if len(tokens) < len(generated) else 0)
        return Choice(
            text=text,
            finish_reason="stop" if ended else "length",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion,
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the libraries' own deprecation notices (between their versions, not the user's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _adapter_name(path: Path) -> str:
    """A PEFT adapter name for a folder (no dots: PEFT names are module keys)."""
    return "a" + hashlib.sha1(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()[:16]


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def _until_stop(
    pieces: Iterable[str], stops: Sequence[str], stop_now: threading.Event
) -> Iterator[str]:
    """Pass pieces through, holding back what could start a stop string; end at a stop."""
    hold = max((len(s) for s in stops if s), default=1) - 1
    buffer = ""
    for piece in pieces:
        buffer += piece
        cut = _first_stop(buffer, stops)
        if cut is not None:
            if buffer[:cut]:
                yield buffer[:cut]
            stop_now.set()
            return
        ready = len(buffer) - hold
        if ready > 0:
            yield buffer[:ready]
            buffer = buffer[ready:]
    if buffer:
        yield buffer


class _Drained:
    """An iterator over a streamer that knows whether the streamer has ended."""

    def __init__(self, streamer: Any) -> None:
        self.streamer = streamer
        self.ended = False

    def __iter__(self) -> Iterator[str]:
        for piece in self.streamer:
            yield str(piece)
        self.ended = True

    def drain(self) -> None:
        if not self.ended:
            for _ in self:
                pass


class _Flag:
    """A stopping criterion: stop every sequence once an event is set (an early close)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, _scores: Any, **_: Any) -> Any:
        torch = require("torch")
        return torch.full((input_ids.shape[0],), self.event.is_set(), device=input_ids.device)


class _StopStrings:
    """A stopping criterion: a sequence is done once its generated text holds a stop string.

    Only the generated text counts (transformers' own `stop_strings` also matches across the
    end of the prompt).
    """

    def __init__(self, stops: Sequence[str], tokenizer: Any, width: int) -> None:
        self.stops = [s for s in stops if s]
        self.tokenizer = tokenizer
        self.width = width

    def __call__(self, input_ids: Any, _scores: Any, **_: Any) -> Any:
        torch = require("torch")
        done = [
            any(
                stop in self.tokenizer.decode(row[self.width :], skip_special_tokens=True)
                for stop in self.stops
            )
            for row in input_ids.tolist()
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
