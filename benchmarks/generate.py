"""Deterministic generator of a synthetic chat fine-tuning dataset for the benchmarks.

Each line is one supervised chat example: a shared system prompt, then one to three user/assistant
turns of varied text (words of varied length, punctuation, numbers, quotes, some non-ASCII words,
some paragraph breaks). The text is built word by word from a fixed vocabulary with a seeded
`random.Random`, so the same arguments always give byte-identical files, and no Python loop ever
runs per character.

100,000 examples come to about 100 MB; `--examples 1_000_000` (or `--target-bytes 1e9`) gives
about 1 GB.

    uv run python benchmarks/generate.py                      # benchmarks/.data/chat-100000.jsonl
    uv run python benchmarks/generate.py --examples 10_000
    uv run python benchmarks/generate.py --target-bytes 1e9   # benchmarks/.data/chat-1GB.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / ".data"
DEFAULT_EXAMPLES = 100_000
DEFAULT_SEED = 20240718


def _words(text: str) -> list[str]:
    return text.split()


SYSTEM_PROMPT = (
    "You are Atlas, the support assistant of Northwind Outfitters, an online shop for outdoor "
    "gear. Answer the customer's question precisely and politely, in the customer's language. "
    "Quote order numbers, prices (in EUR, with two decimals) and dates (YYYY-MM-DD) exactly as "
    "they appear in the conversation. Never invent a tracking number, a discount or a policy; "
    "when you don't know, say so and offer to open a ticket."
)

_COMMON = _words(
    "the of and to a in is it you that he was for on are with as I his they be at one have this "
    "from or had by hot word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would like so "
    "these her long make thing see him two has look more day could go come did number sound no "
    "most people my over know water than call first who may down side been now find any new work "
    "part take get place made live where after back little only round man year came show every "
    "good me give our under name very through just form sentence great think say help low line "
    "differ turn cause much mean before move right boy old too same tell does set three want air "
    "well also play small end put home read hand port large spell add even land here must big "
    "high such follow act why ask men change went light kind off need house picture try us again"
)
_TECHNICAL = _words(
    "order shipment refund warranty backpack tent sleeping-bag carabiner headlamp waterproof "
    "breathable GORE-TEX zipper seam invoice delivery courier warehouse checkout voucher "
    "subscription newsletter configuration temperature lightweight ultralight aluminium titanium "
    "merino polyester insulation compression expedition mountaineering availability replacement "
    "compatibility dimensions specification documentation troubleshooting acknowledgement "
    "internationalization reimbursement cancellation authentication"
)
_NON_ASCII = _words(
    "café naïve façade Zürich Straße Grüße déjà-vu señor jalapeño Ærø Kraków Åre smörgåsbord "
    "Ελλάδα привет спасибо 日本語 東京 ありがとう 中文 한국어 नमस्ते مرحبا שלום 🎉 👍 ✓ € £ ¥ — … «ok»"
)
_PUNCTUATED = _words(
    "however, therefore, finally, first, second, also, yes. no. ok. thanks! sorry! really? why? "
    "(optional) (see above) [note] e.g. i.e. etc. e-mail: FAQ: step-by-step; well-known; "
    "\"fragile\" \"express\" 'standard' don't can't it's we're you'll I'm 50% 3/4 a/b x*y "
    "#1 @support ~10 C:\\temp\\log.txt https://example.com/orders?id=42&ref=mail"
)
_SENTENCE_ENDS = (".", ".", ".", "?", "!", ":", ";", ",", ",", ",")


def _number(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randrange(10))
    if kind == 1:
        return str(rng.randrange(100, 100_000))
    if kind == 2:
        return f"{rng.uniform(0, 999):.2f}"
    if kind == 3:
        return f"20{rng.randrange(10, 30)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if kind == 4:
        return f"#{rng.randrange(10**6, 10**7)}"
    return f"{rng.randrange(1, 1000):,}"


def build_vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """The words to draw from, and their cumulative weights (for `random.choices`)."""
    words: list[str] = []
    weights: list[float] = []

    def add(items: list[str], weight: float) -> None:
        words.extend(items)
        weights.extend([weight] * len(items))

    add(_COMMON, 12.0)
    add([w.capitalize() for w in _COMMON[:80]], 1.5)
    add([w + rng.choice(_SENTENCE_ENDS) for w in _COMMON], 2.0)
    add(_TECHNICAL, 3.0)
    add([w.upper() for w in _TECHNICAL[:10]], 0.5)
    add(_NON_ASCII, 1.0)
    add(_PUNCTUATED, 1.5)
    add([_number(rng) for _ in range(400)], 0.6)
    add(["\n\n", "\n- ", "\n1. ", "\n2. "], 2.0)
    cum = list(itertools.accumulate(weights))
    return words, cum


class TextMaker:
    """Draws texts of a given mean length (in words) from the vocabulary."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words, self.cum = build_vocabulary(random.Random(rng.random()))

    def text(self, mean_words: float) -> str:
        rng = self.rng
        # Log-normal lengths: mostly near the mean, a long tail of long messages.
        n = max(1, int(rng.lognormvariate(0.0, 0.6) * mean_words * 0.84))
        body = " ".join(rng.choices(self.words, cum_weights=self.cum, k=n))
        return body[:1].upper() + body[1:] + ("." if rng.random() < 0.7 else "")


def make_example(rng: random.Random, texts: TextMaker) -> dict[str, object]:
    """One chat example: system prompt, then 1-3 user/assistant turns."""
    messages: list[dict[str, object]] = []
    if rng.random() < 0.95:
        messages.append({"role": "system", "content": SYSTEM_PROMPT})
    turns = rng.choices((1, 2, 3), weights=(70, 22, 8))[0]
    for _ in range(turns):
        user: dict[str, object] = {"role": "user", "content": texts.text(25 / turns**0.5)}
        if rng.random() < 0.05:
            user["name"] = rng.choice(("alice", "bob", "chen_wei", "jose"))
        messages.append(user)
        messages.append({"role": "assistant", "content": texts.text(56 / turns**0.5)})
    return {"messages": messages}


def default_path(examples: int | None, target_bytes: int | None) -> Path:
    """Where the file for these arguments is written."""
    if target_bytes is not None:
        return DATA_DIR / f"chat-{target_bytes / 1e9:g}GB.jsonl"
    return DATA_DIR / f"chat-{examples or DEFAULT_EXAMPLES}.jsonl"


def generate(
    path: Path,
    *,
    examples: int | None = DEFAULT_EXAMPLES,
    target_bytes: int | None = None,
    seed: int = DEFAULT_SEED,
) -> tuple[int, int]:
    """Write the dataset to `path`; return (examples, bytes).

    Stops after `examples` lines, or once `target_bytes` are written (whichever is given; both:
    whichever comes first).
    """
    if examples is None and target_bytes is None:
        raise ValueError("give examples or target_bytes")
    rng = random.Random(seed)
    texts = TextMaker(rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    n = 0
    size = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    with tmp.open("wb") as f:
        batch: list[str] = []
        while (examples is None or n < examples) and (target_bytes is None or size < target_bytes):
            line = dumps(make_example(rng, texts)) + "\n"
            batch.append(line)
            n += 1
            size += len(line.encode()) if target_bytes is not None else 0
            if len(batch) >= 10_000:
                f.write("".join(batch).encode())
                batch.clear()
        f.write("".join(batch).encode())
    tmp.replace(path)
    return n, path.stat().st_size


def ensure(
    path: Path,
    *,
    examples: int | None = DEFAULT_EXAMPLES,
    target_bytes: int | None = None,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Generate `path` unless it already exists (a finished file is never partial)."""
    if not path.is_file():
        t0 = time.perf_counter()
        n, size = generate(path, examples=examples, target_bytes=target_bytes, seed=seed)
        print(
            f"generated {path} ({n:,} examples, {size / 1e6:,.1f} MB) "
            f"in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--examples",
        type=lambda s: int(s.replace("_", "")),
        default=None,
        help=f"number of examples (default {DEFAULT_EXAMPLES:,} unless --target-bytes)",
    )
    parser.add_argument(
        "--target-bytes",
        type=lambda s: int(float(s.replace("_", ""))),
        default=None,
        help="stop once the file reaches this size, e.g. 1e9",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, default=None, help="default: benchmarks/.data/...")
    parser.add_argument("--force", action="store_true", help="regenerate even if the file exists")
    args = parser.parse_args(argv)
    examples: int | None = args.examples
    target: int | None = args.target_bytes
    if examples is None and target is None:
        examples = DEFAULT_EXAMPLES
    path: Path = args.output or default_path(examples, target)
    if args.force and path.exists():
        path.unlink()
    ensure(path, examples=examples, target_bytes=target, seed=args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
