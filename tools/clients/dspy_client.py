"""DSPy against `finetune-kit local serve` (or `sim serve`): `dspy.LM`, `dspy.Predict`, `LM.finetune`.

Not run by CI: it needs `dspy` in an environment of its own (see tools/clients/README.md).

    python tools/clients/dspy_client.py URL --chat tiny          # the LM called, one dspy.Predict
    python tools/clients/dspy_client.py URL --train BASE_MODEL   # LM.finetune, then Predict on it

`--chat MODEL` calls `dspy.LM("openai/MODEL", api_base=URL)` directly and through one
`dspy.Predict` of a question -> answer signature. A model that has not learnt DSPy's output format
(the tests' random tiny model) answers text DSPy cannot parse: the call went through, and the script
says so. `--train BASE` fine-tunes BASE on DSPy-formatted rows with `LM.finetune` (DSPy's OpenAI
provider drives the module-level `openai` client: OPENAI_BASE_URL is set to URL here), then asks
the tuned model a training question through `dspy.Predict`; with `--expect ANSWER` the answer must
parse and be ANSWER (the simulator's tuned models answer their training rows: `--expect Lima`).
DSPy polls the job every 20 seconds. Any other failure is an exception: exit status 1.
"""

from __future__ import annotations

import argparse
import os
from importlib.metadata import version
from typing import Any

# LiteLLM (under DSPy) fetches its model price map from GitHub at import unless told otherwise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy
from common import KEY, PAIRS
from dspy.clients.openai import OpenAIProvider
from dspy.clients.utils_finetune import TrainDataFormat


class Capital(dspy.Signature):
    """Name the capital city of the country asked about."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


def lm_for(url: str, model: str) -> dspy.LM:
    """A DSPy LM on `model` served at `url`, uncached (every call reaches the server)."""
    name = model if model.startswith("openai/") else f"openai/{model}"
    return dspy.LM(name, api_base=url, api_key=KEY, cache=False, temperature=0, max_tokens=64)


def chat(url: str, model: str) -> None:
    """The LM called directly, then one `dspy.Predict`."""
    lm = lm_for(url, model)
    print("lm(prompt):", lm("What is the capital of France?", max_tokens=8))
    ask(lm, None)
    print("history:", len(lm.history), "calls, last usage", lm.history[-1]["usage"])


def ask(lm: dspy.LM, expect: str | None) -> None:
    """One `dspy.Predict` of a training question; its answer must be `expect` when given."""
    predict = dspy.Predict(Capital)
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        try:
            result = predict(question="What is the capital of Peru?")
        except dspy.utils.exceptions.AdapterParseError as err:
            if expect is not None:
                raise
            # The request and its answer went through; the model's text is not DSPy's format.
            print("dspy.Predict: answered, not in DSPy's format:", repr(err.lm_response)[:80])
            return
    print("dspy.Predict:", repr(result.answer))
    assert expect is None or result.answer == expect, f"expected {expect!r}"


def train(url: str, base: str, expect: str | None) -> None:
    """`LM.finetune` on DSPy-formatted rows, then `dspy.Predict` with the tuned model."""
    os.environ["OPENAI_BASE_URL"] = url
    os.environ["OPENAI_API_KEY"] = KEY
    adapter = dspy.ChatAdapter()
    rows: list[dict[str, Any]] = [
        adapter.format_finetune_data(
            Capital,
            demos=[],
            inputs={"question": f"What is the capital of {country}?"},
            outputs={"answer": city},
        )
        for country, city in PAIRS
    ]
    print("a training row:", rows[0])
    lm = dspy.LM(f"openai/{base}", api_base=url, api_key=KEY, provider=OpenAIProvider())
    job = lm.finetune(rows, TrainDataFormat.CHAT, {"n_epochs": 3})
    tuned = job.result()
    if isinstance(tuned, Exception):
        raise tuned
    print("LM.finetune:", tuned.model, job.status())
    ask(lm_for(url, tuned.model), expect)


def main() -> None:
    """Parse the arguments and run the checks asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--chat", metavar="MODEL", help="a served model to ask")
    parser.add_argument("--train", metavar="BASE", help="a base model to fine-tune")
    parser.add_argument(
        "--expect",
        metavar="ANSWER",
        help="with --train: the answer the tuned model must give (e.g. Lima)",
    )
    args = parser.parse_args()
    if not args.chat and not args.train:
        parser.error("give --chat MODEL, --train BASE or both")
    print("dspy", version("dspy"), "litellm", version("litellm"), "openai", version("openai"))
    if args.chat:
        chat(args.base_url, args.chat)
    if args.train:
        train(args.base_url, args.train, args.expect)
    print("ok")


if __name__ == "__main__":
    main()
