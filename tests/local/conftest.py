"""Fixtures of the local backend's tests: a tiny causal LM made at test time, nothing downloaded.

`tiny_model_dir` is a folder as `save_pretrained` writes it: a byte-level BPE tokenizer trained
here with `tokenizers` (every byte is a token, so any text round-trips), with special tokens
and a ChatML-style chat template that renders a system message, `tools` (as JSON in the system
turn), tool calls and tool results, and marks assistant content with `{% generation %}` (so
`return_assistant_tokens_mask=True` works); and a randomly initialised `LlamaForCausalLM`
(2 layers, hidden size 64, 4 heads, intermediate size 128, 512 positions).
`tiny_model_no_tools_dir` is the same model whose template knows no tools: it ignores `tools`
and rejects the `tool` role, as many real templates do.

The hub is off for the whole session (`HF_HUB_OFFLINE=1`, set before transformers is imported),
and its cache is a fresh temporary folder (`HF_HUB_CACHE`), so no test reads a developer's cache.

Without torch and transformers (`uv sync --extra local`) these tests skip, except under CI
(`CI=true`), where a missing backend is a failure: CI installs the extra on purpose.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Before anything imports huggingface_hub: it reads these once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
_HUB_CACHE = tempfile.mkdtemp(prefix="finetune-kit-hf-cache-")
os.environ["HF_HUB_CACHE"] = _HUB_CACHE

_STACK = ("torch", "transformers", "tokenizers")


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_local_stack() -> None:
    """Skip the test when torch, transformers or tokenizers is missing; under CI, fail it."""
    missing = []
    for name in _STACK:
        try:
            importlib.import_module(name)
        except ImportError:  # noqa: PERF203 - a handful of names
            missing.append(name)
    if not missing:
        return
    reason = (
        f"the local backend's tests need {', '.join(missing)}: install the extra with "
        "`uv sync --extra local` (or run `uv run --extra local pytest`)"
    )
    if _ci():
        pytest.fail(f"CI must run the local backend's tests, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def hub_cache() -> Path:
    """The Hugging Face hub cache of this test session (empty until a test fills it)."""
    return Path(_HUB_CACHE)


# --- the tokenizer ------------------------------------------------------------------------------

BOS = "<|begin_of_text|>"
EOS = "<|im_end|>"
"""End of a turn: also the model's end-of-sequence token."""
PAD = "<|pad|>"
START = "<|im_start|>"
SPECIAL_TOKENS = (BOS, START, EOS, PAD)

CHAT_TEMPLATE = """\
{%- if messages and messages[0].role == 'system' -%}
  {%- set system = messages[0].content -%}
  {%- set loop_messages = messages[1:] -%}
{%- else -%}
  {%- set system = none -%}
  {%- set loop_messages = messages -%}
{%- endif -%}
{{- bos_token -}}
{%- if system is not none or tools -%}
  {{- '<|im_start|>system\\n' -}}
  {%- if system is not none -%}{{- system -}}{%- endif -%}
  {%- if tools -%}
    {%- if system is not none -%}{{- '\\n\\n' -}}{%- endif -%}
    {{- '# Tools\\n' -}}
    {%- for tool in tools -%}{{- tool | tojson -}}{{- '\\n' -}}{%- endfor -%}
  {%- endif -%}
  {{- '<|im_end|>\\n' -}}
{%- endif -%}
{%- for message in loop_messages -%}
  {%- if message.role == 'assistant' -%}
    {{- '<|im_start|>assistant\\n' -}}
    {%- generation -%}
      {%- if message.content -%}{{- message.content -}}{%- endif -%}
      {%- for call in message.tool_calls or [] -%}
        {{- '<tool_call>' -}}{{- call.function | tojson -}}{{- '</tool_call>' -}}
      {%- endfor -%}
      {{- '<|im_end|>' -}}
    {%- endgeneration -%}
    {{- '\\n' -}}
  {%- elif message.role in ('user', 'tool') -%}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
  {%- else -%}
    {{- raise_exception('this template has no role ' + message.role) -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}
"""
"""ChatML with tools in the system turn and `{% generation %}` around assistant turns."""

CHAT_TEMPLATE_NO_TOOLS = """\
{{- bos_token -}}
{%- for message in messages -%}
  {%- if message.role == 'assistant' -%}
    {{- '<|im_start|>assistant\\n' -}}
    {%- generation -%}{{- message.content -}}{{- '<|im_end|>' -}}{%- endgeneration -%}
    {{- '\\n' -}}
  {%- elif message.role in ('system', 'user') -%}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
  {%- else -%}
    {{- raise_exception('only system, user and assistant messages, not ' + message.role) -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}
"""
"""A template that knows no tools: it ignores `tools` and rejects the `tool` role."""

_SUBJECTS = (
    ("France", "Paris"),
    ("Spain", "Madrid"),
    ("Italy", "Rome"),
    ("Peru", "Lima"),
    ("Chile", "Santiago"),
    ("Japan", "Tokyo"),
    ("Kenya", "Nairobi"),
    ("Canada", "Ottawa"),
    ("Norway", "Oslo"),
    ("Egypt", "Cairo"),
)
_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def corpus() -> list[str]:
    """A few hundred chat strings, role markers included, to train the tokenizer on."""
    texts: list[str] = []
    for country, city in _SUBJECTS:
        question = f"What is the capital of {country}?"
        texts += [
            f"{START}system\nYou are a terse geography tutor.{EOS}\n",
            f"{START}user\n{question}{EOS}\n{START}assistant\n{city}.{EOS}\n",
            f"{START}user\nIs {city} in {country}?{EOS}\n{START}assistant\nYes.{EOS}\n",
            f"The capital of {country} is {city}. {city} is a city in {country}.",
            f'<tool_call>{{"name": "get_weather", "arguments": {{"city": "{city}"}}}}</tool_call>',
            f'{START}tool\n{{"city": "{city}", "sky": "clear", "celsius": 21}}{EOS}\n',
            f"# Tools\n{json.dumps(_TOOL)}\n",
        ]
        for n in range(12):
            texts.append(f"Question {n}: how far is {city} from {country}'s border? {n * 7} km.")
    return texts


# --- the model folders --------------------------------------------------------------------------


def build_tiny_model(folder: Path, *, chat_template: str) -> Path:
    """Write a tiny tokenizer and a randomly initialised LlamaForCausalLM into `folder`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    # transformers is only partly typed: used through Any.
    transformers: Any = importlib.import_module("transformers")
    transformers.utils.logging.disable_progress_bar()

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus(), trainer=trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[START],
        model_max_length=512,
    )
    tokenizer.chat_template = chat_template
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=128,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = transformers.LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny chat model folder whose template renders tools and marks assistant tokens."""
    require_local_stack()
    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat"), chat_template=CHAT_TEMPLATE)


@pytest.fixture(scope="session")
def tiny_model_no_tools_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny model, with a template that knows no tools."""
    require_local_stack()
    return build_tiny_model(
        tmp_path_factory.mktemp("tiny-chat-no-tools"), chat_template=CHAT_TEMPLATE_NO_TOOLS
    )


TOOL = _TOOL
"""The one tool of the tests' tool rows (OpenAI's shape)."""
