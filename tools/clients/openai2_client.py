"""The raw openai SDK 2.x against `finetune-kit local serve` (or `sim serve`): the common routes.

Not run by CI: it needs `openai<3` in an environment of its own (see tools/clients/README.md).

    python tools/clients/openai2_client.py URL --chat tiny          # models, chat, streamed chat
    python tools/clients/openai2_client.py URL --train BASE_MODEL   # files, a job, events, checkpoints

`--chat MODEL` lists the models and asks MODEL three times (greedy, streamed, streamed through
`AsyncOpenAI`); `--train BASE` uploads a small chat file, creates a job on BASE, follows it to the
end, lists jobs, events and checkpoints, reads the results file, asks the tuned model, cancels a
second job, then deletes the tuned model and the file. Both can be given. Any failure is an
exception: exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time

import openai
from common import QUESTION, TERMINAL, rows

ROWS = rows(system="You are a terse geography tutor.")


def chat(client: openai.OpenAI, model: str) -> None:
    """models.list, models.retrieve, a greedy chat completion and a streamed one."""
    ids = [m.id for m in client.models.list()]
    print("models.list:", ids)
    assert model in ids, f"{model} not in {ids}"
    print("models.retrieve:", client.models.retrieve(model).model_dump())
    done = client.chat.completions.create(
        model=model, messages=QUESTION, max_tokens=8, temperature=0
    )
    print("chat:", repr(done.choices[0].message.content), done.choices[0].finish_reason)
    print("usage:", done.usage.model_dump() if done.usage else None)
    pieces: list[str] = []
    finish = None
    with client.chat.completions.create(
        model=model,
        messages=QUESTION,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        for chunk in stream:
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
            if chunk.usage:
                print("stream usage:", chunk.usage.model_dump())
    print("stream:", repr("".join(pieces)), finish)
    assert "".join(pieces) == done.choices[0].message.content, "the stream differs from greedy"


def train(client: openai.OpenAI, base: str, timeout: float) -> None:
    """Files, a job followed to the end, its events and checkpoints, the tuned model; cleanup."""
    data = "".join(json.dumps(row) + "\n" for row in ROWS).encode()
    upload = client.files.create(file=("train.jsonl", io.BytesIO(data)), purpose="fine-tune")
    print("files.create:", upload.id, upload.status, upload.bytes)
    print("files.retrieve:", client.files.retrieve(upload.id).filename)
    job = client.fine_tuning.jobs.create(
        model=base,
        training_file=upload.id,
        suffix="clients",
        hyperparameters={"n_epochs": 3},
        metadata={"by": "openai2_client"},
    )
    print("jobs.create:", job.id, job.status, job.model)
    deadline = time.monotonic() + timeout
    while job.status not in TERMINAL:
        assert time.monotonic() < deadline, f"{job.id} still {job.status} after {timeout} s"
        time.sleep(1)
        job = client.fine_tuning.jobs.retrieve(job.id)
    print("jobs.retrieve:", job.status, job.fine_tuned_model, job.trained_tokens)
    assert job.status == "succeeded", job.error
    listed = client.fine_tuning.jobs.list(limit=5, metadata={"by": "openai2_client"})
    print("jobs.list (metadata filter):", [j.id for j in listed.data])
    assert job.id in [j.id for j in listed.data]
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    metrics = [e for e in events if e.type == "metrics"]
    print(f"jobs.list_events: {len(events)} events, {len(metrics)} metrics; newest:")
    print("   ", events[0].model_dump())
    if metrics:
        print("    a metrics event:", metrics[0].model_dump())
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    print("jobs.checkpoints.list:", [c.fine_tuned_model_checkpoint for c in checkpoints])
    if checkpoints:
        print("   ", checkpoints[0].metrics.model_dump())
    for result in job.result_files:
        head = client.files.content(result).text.splitlines()[:2]
        print("files.content (results):", head)
    assert job.fine_tuned_model
    chat(client, job.fine_tuned_model)
    other = client.fine_tuning.jobs.create(model=base, training_file=upload.id)
    other = client.fine_tuning.jobs.cancel(other.id)
    print("jobs.cancel:", other.id, other.status)
    assert other.status in ("cancelled", "cancelling"), other.status
    print("files.list:", [f.id for f in client.files.list(purpose="fine-tune")][:3])
    print("models.delete:", client.models.delete(job.fine_tuned_model).deleted)
    print("files.delete:", client.files.delete(upload.id).deleted)


async def chat_async(url: str, model: str) -> None:
    """`AsyncOpenAI`: a chat completion, streamed."""
    client = openai.AsyncOpenAI(base_url=url, api_key="sk-local", max_retries=0)
    stream = await client.chat.completions.create(
        model=model, messages=QUESTION, max_tokens=8, temperature=0, stream=True
    )
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    print("async stream:", repr("".join(pieces)))
    await client.close()


def main() -> None:
    """Parse the arguments and run the checks asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--chat", metavar="MODEL", help="a served model to list and ask")
    parser.add_argument("--train", metavar="BASE", help="a base model to fine-tune")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a job may take")
    args = parser.parse_args()
    if not args.chat and not args.train:
        parser.error("give --chat MODEL, --train BASE or both")
    print("openai", openai.__version__)
    client = openai.OpenAI(base_url=args.base_url, api_key="sk-local", max_retries=0)
    if args.chat:
        chat(client, args.chat)
        asyncio.run(chat_async(args.base_url, args.chat))
    if args.train:
        train(client, args.train, args.timeout)
    print("ok")


if __name__ == "__main__":
    main()
