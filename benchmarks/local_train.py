"""Local backend: training throughput of a local job against TRL run directly, and chat latency.

    uv run --extra local python benchmarks/local_train.py              # a small random model, CPU or GPU
    uv run --extra local python benchmarks/local_train.py --model Qwen/Qwen2.5-0.5B-Instruct

Rows, in one process run (alternating, best of `--repeat`):

- direct: `trl.SFTTrainer` built here and trained in this process, on the same tokenized rows
  with the same hyperparameters, LoRA and seed, no callback of ours, no checkpoints;
- engine: the same job through `finetune_kit.local.TrainingEngine` (a worker process, the
  callback's per-step metrics, a checkpoint per epoch), timed from its `Started` event to its
  last `Metrics` event, as they reach this process.

Throughput is trained-on tokens (every token of every row, x epochs) per second of the training
loop. The goal: the engine within 5% of direct. Then chat latency through `InferenceEngine`:
greedy answers of `--max-tokens` tokens, median and p90 time, time to the first streamed piece,
and generated tokens per second; and the same through `local serve`'s HTTP server with the raw
openai SDK (the base model), also with 4 clients at once.

Without `--model`, a random Llama (`--hidden`, `--layers`) with a tokenizer trained here is
written to `benchmarks/.data/local-model` (nothing downloaded).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from finetune_kit.local import (
    ChatParams,
    InferenceEngine,
    Metrics,
    ServedModel,
    Started,
    TrainingEngine,
    TrainingJob,
)
from finetune_kit.local.data import encode_supervised, read_rows
from finetune_kit.local.options import TrainOptions
from finetune_kit.local.worker import require

DATA = Path(__file__).resolve().parent / ".data"
TEMPLATE = (
    "{{- bos_token -}}{%- for m in messages -%}{%- if m.role == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}{%- generation -%}{{- m.content -}}{{- '<|im_end|>' -}}"
    "{%- endgeneration -%}{{- '\\n' -}}{%- else -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
WORDS = [
    "the",
    "a",
    "city",
    "river",
    "capital",
    "north",
    "south",
    "answer",
    "question",
    "model",
    "data",
    "train",
    "token",
    "fast",
    "slow",
]


def rows(n: int, words: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        q = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(words // 3))
        a = " ".join(WORDS[(i * 5 + k * 3) % len(WORDS)] for k in range(words))
        out.append(
            {
                "messages": [
                    {"role": "user", "content": f"{i}: {q}?"},
                    {"role": "assistant", "content": a},
                ]
            }
        )
    return out


def build_model(folder: Path, hidden: int, layers: int) -> Path:
    if (folder / "config.json").is_file():
        return folder
    torch = require("torch")
    tokenizers = require("tokenizers")
    transformers = require("transformers")
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    special = ["<|begin_of_text|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=2048,
        special_tokens=special,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = [json.dumps(r) for r in rows(500, 30)]
    bpe.train_from_iterator(texts, trainer=trainer)
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=special[0],
        eos_token=special[2],
        pad_token=special[3],
        additional_special_tokens=[special[1]],
    )
    tok.chat_template = TEMPLATE
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 64),
        max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def direct(job: TrainingJob) -> float:
    """Tokens per second of SFTTrainer run here, timed like the engine (first step to last)."""
    torch = require("torch")
    transformers = require("transformers")
    trl = require("trl")
    peft = require("peft")
    datasets = require("datasets")
    opts = TrainOptions.parse(job.options)
    tok = transformers.AutoTokenizer.from_pretrained(job.model)
    encoded = [
        encode_supervised(tok, r, w, max_length=opts.max_length)
        for w, r in read_rows(job.training_file)
    ]
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    model = transformers.AutoModelForCausalLM.from_pretrained(
        job.model, dtype=torch.bfloat16 if bf16 else None
    )
    hp = job.hyperparameters
    args = trl.SFTConfig(
        output_dir=str(job.workdir / "direct"),
        num_train_epochs=int(hp["n_epochs"]),
        per_device_train_batch_size=int(hp["batch_size"]),
        learning_rate=float(hp["learning_rate_multiplier"]) * opts.base_learning_rate(),
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=job.seed,
        data_seed=job.seed,
        use_cpu=not cuda,
        bf16=bf16,
        disable_tqdm=True,
        max_length=None,
        dataset_kwargs={"skip_prepare_dataset": True},
    )
    stamps: list[float] = []

    callback: Any = transformers.TrainerCallback

    class Clock(callback):  # type: ignore[misc]
        def on_train_begin(self, *_: Any, **__: Any) -> None:
            stamps.append(time.perf_counter())

        def on_log(self, *_: Any, logs: Any = None, **__: Any) -> None:
            if logs and "loss" in logs:
                stamps.append(time.perf_counter())

    transformers.set_seed(job.seed)
    trainer = trl.SFTTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(
            [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
        ),
        processing_class=tok,
        peft_config=peft.LoraConfig(
            r=opts.lora_rank,
            lora_alpha=opts.lora_alpha,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
        callbacks=[Clock()],
    )
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    trainer.train()
    tokens = sum(len(e.input_ids) for e in encoded) * int(hp["n_epochs"])
    return tokens / (stamps[-1] - stamps[0])


def engine_run(engine: TrainingEngine, job: TrainingJob, tokens: int) -> float:
    engine.submit(job)
    started = last = 0.0

    def seen(history: list[Any]) -> bool:
        nonlocal started, last
        for event in history[len(seen.count) :]:  # type: ignore[attr-defined]
            now = time.perf_counter()
            if isinstance(event, Started):
                started = now
            elif isinstance(event, Metrics):
                last = now
        seen.count = history  # type: ignore[attr-defined]
        return engine.status(job.id) not in ("queued", "running")

    seen.count = []  # type: ignore[attr-defined]
    engine.wait(job.id, 3600, until=seen)
    status = engine.status(job.id)
    if status != "succeeded":
        raise SystemExit(f"the engine's job {status}: {engine.history(job.id)[-1]}")
    return tokens / (last - started)


def main() -> None:  # noqa: PLR0915 - a script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a hub id or folder (default: a random model made here)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--words", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    DATA.mkdir(exist_ok=True)
    model = args.model or str(
        build_model(DATA / f"local-model-{args.hidden}x{args.layers}", args.hidden, args.layers)
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train = root / "train.jsonl"
        train.write_text("".join(json.dumps(r) + "\n" for r in rows(args.rows, args.words)))
        transformers = require("transformers")
        tok = transformers.AutoTokenizer.from_pretrained(model)
        opts = TrainOptions()
        tokens = sum(
            len(encode_supervised(tok, r, w, max_length=opts.max_length).input_ids)
            for w, r in read_rows(train)
        )
        tokens *= args.epochs

        def job(name: str) -> TrainingJob:
            return TrainingJob(
                id=name,
                model=model,
                method="supervised",
                hyperparameters={
                    "n_epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "learning_rate_multiplier": 1.0,
                },
                training_file=train,
                validation_file=None,
                suffix=None,
                seed=1,
                workdir=root / name,
                examples=args.rows,
            )

        direct_rates: list[float] = []
        engine_rates: list[float] = []
        with TrainingEngine() as engine:
            for i in range(args.repeat):
                direct_rates.append(direct(job(f"direct-{i}")))
                engine_rates.append(engine_run(engine, job(f"engine-{i}"), tokens))
            last_model = root / f"engine-{args.repeat - 1}" / "model"
        best_direct, best_engine = max(direct_rates), max(engine_rates)
        print(
            f"model {model}: {args.rows} rows x {args.epochs} epochs = {tokens} tokens, batch {args.batch_size}"
        )
        print(
            f"  direct TRL   {best_direct:10.0f} tokens/s   (runs: {', '.join(f'{r:.0f}' for r in direct_rates)})"
        )
        print(
            f"  local engine {best_engine:10.0f} tokens/s   (runs: {', '.join(f'{r:.0f}' for r in engine_rates)})"
        )
        overhead = 1 - best_engine / best_direct
        print(f"  overhead     {overhead:10.1%}   (goal <= 5%)")

        infer = InferenceEngine()
        served = ServedModel("tuned", model, last_model)
        messages = [{"role": "user", "content": "0: the city river?"}]
        params = ChatParams(temperature=0, max_tokens=args.max_tokens)
        infer.complete(served, messages, params)  # load and warm up
        times: list[float] = []
        generated = 0
        for _ in range(args.requests):
            t0 = time.perf_counter()
            [choice] = infer.complete(served, messages, params)
            times.append(time.perf_counter() - t0)
            generated += choice.completion_tokens
        firsts: list[float] = []
        for _ in range(min(5, args.requests)):
            t0 = time.perf_counter()
            stream = infer.stream(served, messages, params)
            next(stream, None)
            firsts.append(time.perf_counter() - t0)
            stream.close()
        times.sort()
        print(
            f"chat (tuned, greedy, max {args.max_tokens} tokens, {args.requests} requests): "
            f"median {statistics.median(times) * 1000:.0f} ms, p90 {times[int(0.9 * (len(times) - 1))] * 1000:.0f} ms, "
            f"first piece {statistics.median(firsts) * 1000:.0f} ms, {generated / sum(times):.0f} tokens/s"
        )
        served_chat(model, messages, args)


def served_chat(model: str, messages: list[Any], args: argparse.Namespace) -> None:
    """The base model through `local serve`'s HTTP server and the raw openai SDK: the same
    greedy answers as above plus the platform's routes, JSON and a real socket."""
    import openai  # noqa: PLC0415

    from finetune_kit.local.platform import LocalPlatform  # noqa: PLC0415
    from finetune_kit.platform.server import PlatformServer  # noqa: PLC0415

    with (
        tempfile.TemporaryDirectory() as root,
        LocalPlatform(models={"base": model}, root=root) as platform,
        PlatformServer(platform).start() as server,
    ):
        client = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0)

        def ask() -> int:
            response = client.chat.completions.create(
                model="base", messages=messages, temperature=0, max_tokens=args.max_tokens
            )
            return response.usage.completion_tokens if response.usage else 0

        ask()  # load and warm up
        times: list[float] = []
        generated = 0
        for _ in range(args.requests):
            t0 = time.perf_counter()
            generated += ask()
            times.append(time.perf_counter() - t0)
        firsts: list[float] = []
        for _ in range(min(5, args.requests)):
            t0 = time.perf_counter()
            stream = client.chat.completions.create(
                model="base",
                messages=messages,
                temperature=0,
                max_tokens=args.max_tokens,
                stream=True,
            )
            next(iter(stream), None)
            firsts.append(time.perf_counter() - t0)
            stream.close()
        with ThreadPoolExecutor(4) as pool:
            t0 = time.perf_counter()
            answered = list(pool.map(lambda _: ask(), range(args.requests)))
            wall = time.perf_counter() - t0
        times.sort()
        print(
            f"chat through local serve (base, greedy, max {args.max_tokens} tokens, "
            f"{args.requests} requests): median {statistics.median(times) * 1000:.0f} ms, "
            f"p90 {times[int(0.9 * (len(times) - 1))] * 1000:.0f} ms, first chunk "
            f"{statistics.median(firsts) * 1000:.0f} ms, {generated / sum(times):.0f} tokens/s; "
            f"4 clients at once: {len(answered) / wall:.1f} requests/s "
            f"({sum(answered) / wall:.0f} tokens/s)"
        )


if __name__ == "__main__":
    main()
