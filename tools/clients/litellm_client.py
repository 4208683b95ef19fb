"""LiteLLM against `finetune-kit local serve` (or `sim serve`): chat, and its fine-tuning helpers.

Not run by CI: it needs `litellm` in an environment of its own (see tools/clients/README.md).

    python tools/clients/litellm_client.py URL --chat tiny          # completion, streamed, async
    python tools/clients/litellm_client.py URL --train BASE_MODEL   # create_file, fine-tuning jobs

The server is reached as LiteLLM reaches any OpenAI-compatible endpoint: `model="openai/NAME"`
with `api_base=URL`. Any failure is an exception: exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import time
from importlib.metadata import version

# LiteLLM fetches its model price map from GitHub at import unless told to use the copy it ships.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from common import KEY, QUESTION, TERMINAL, rows

# Its fine-tuning helpers look the model up in its price map, and print a red "Provider List"
# banner for every name it does not know (any model of yours): harmless, silenced here.
litellm.suppress_debug_info = True

ROWS = rows()


def chat(url: str, model: str) -> None:
    """`completion` (greedy, `stop`, `n`), a streamed completion and `acompletion`."""
    common = {"model": f"openai/{model}", "api_base": url, "api_key": KEY, "max_tokens": 8}
    done = litellm.completion(messages=QUESTION, temperature=0, **common)
    text = done.choices[0].message.content
    print("completion:", repr(text), done.choices[0].finish_reason, done.usage.model_dump())
    several = litellm.completion(messages=QUESTION, temperature=1, n=2, stop=["\n\n"], **common)
    print("completion n=2:", [c.message.content for c in several.choices])
    assert len(several.choices) == 2
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in litellm.completion(messages=QUESTION, temperature=0, stream=True, **common)
        if chunk.choices
    ]
    print("stream:", repr("".join(pieces)))
    assert "".join(pieces) == text, "the stream differs from greedy"
    again = asyncio.run(litellm.acompletion(messages=QUESTION, temperature=0, **common))
    print("acompletion:", repr(again.choices[0].message.content))
    assert again.choices[0].message.content == text


def train(url: str, base: str, timeout: float) -> None:
    """LiteLLM's file and fine-tuning helpers, sync and async, then the tuned model."""
    where = {"custom_llm_provider": "openai", "api_base": url, "api_key": KEY}
    data = "".join(json.dumps(row) + "\n" for row in ROWS).encode()
    upload = litellm.create_file(
        file=("train.jsonl", io.BytesIO(data)), purpose="fine-tune", **where
    )
    print("create_file:", upload.id, upload.status, upload.bytes)
    print("file_retrieve:", litellm.file_retrieve(upload.id, **where).filename)
    valid = asyncio.run(
        litellm.acreate_file(file=("valid.jsonl", io.BytesIO(data)), purpose="fine-tune", **where)
    )
    print("acreate_file:", valid.id, valid.status)
    job = litellm.create_fine_tuning_job(
        model=base,
        training_file=upload.id,
        validation_file=valid.id,
        hyperparameters={"n_epochs": 3},
        suffix="litellm",
        **where,
    )
    print("create_fine_tuning_job:", job.id, job.status)
    deadline = time.monotonic() + timeout
    while job.status not in TERMINAL:
        assert time.monotonic() < deadline, f"{job.id} still {job.status} after {timeout} s"
        time.sleep(1)
        job = litellm.retrieve_fine_tuning_job(job.id, **where)
    print("retrieve_fine_tuning_job:", job.status, job.fine_tuned_model)
    assert job.status == "succeeded", job.error
    listed = litellm.list_fine_tuning_jobs(limit=5, **where)
    print("list_fine_tuning_jobs:", [j.id for j in listed.data])
    assert job.id in [j.id for j in listed.data]
    for result in job.result_files or []:
        content = litellm.file_content(result, **where)
        print("file_content (results):", content.text.splitlines()[:2])
    print("file_list:", [f.id for f in litellm.file_list(**where)][:5])
    assert job.fine_tuned_model
    chat(url, job.fine_tuned_model)
    other = asyncio.run(
        litellm.acreate_fine_tuning_job(model=base, training_file=upload.id, **where)
    )
    print("acreate_fine_tuning_job:", other.id, other.status)
    other = litellm.cancel_fine_tuning_job(other.id, **where)
    print("cancel_fine_tuning_job:", other.id, other.status)
    assert other.status in ("cancelled", "cancelling"), other.status
    print("file_delete:", litellm.file_delete(valid.id, **where).deleted)


def main() -> None:
    """Parse the arguments and run the checks asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--chat", metavar="MODEL", help="a served model to ask")
    parser.add_argument("--train", metavar="BASE", help="a base model to fine-tune")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a job may take")
    args = parser.parse_args()
    if not args.chat and not args.train:
        parser.error("give --chat MODEL, --train BASE or both")
    print("litellm", version("litellm"))
    if args.chat:
        chat(args.base_url, args.chat)
    if args.train:
        train(args.base_url, args.train, args.timeout)
    print("ok")


if __name__ == "__main__":
    main()
