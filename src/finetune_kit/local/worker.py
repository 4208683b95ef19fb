"""The training worker: a spawned process that runs one job at a time with TRL.

`worker_main` imports torch, transformers, trl and peft once, then takes `(job, resume)` tasks
from its queue and runs each with `run_job`: supervised rows through `SFTTrainer` (LoRA through
PEFT unless `full_fine_tuning`), preference rows through `DPOTrainer`. A `TrainerCallback`
turns the trainer's logs into the platform's events (`finetune_kit.platform.engine`: they
pickle, and go to the platform as they are) and puts them on the results queue as
`(job id, event)`; it reads the shared control flag at the end of every step (cancel: stop;
pause: save a checkpoint, then stop).

Layout of a job's `workdir`: `checkpoints/step-N` (a folder the trainer resumes from, which also
holds the adapter, or the whole model with `full_fine_tuning`) and `model` (the final adapter
or model, with the tokenizer).

A failed job's code is one of `invalid_file` (a row the engine cannot use: the message names the
file, line and field), `invalid_model` (the base model can't be loaded), `invalid_options`,
`missing_dependency` (the `local` extra is not installed), `out_of_memory`, `disk_full`,
`worker_died` or `training_error`; checkpoints written before the failure stay on disk.

Nothing here imports torch at module level: the server imports this module to start workers.
"""

from __future__ import annotations

import errno
import gc
import importlib
import math
import shutil
import signal
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune_kit.exceptions import ConfigurationError
from finetune_kit.local.data import (
    IGNORE_INDEX,
    DataError,
    Encoded,
    encode_supervised,
    preference_texts,
    read_rows,
)
from finetune_kit.local.options import TrainOptions
from finetune_kit.platform.engine import (
    Cancelled,
    CheckpointSaved,
    EngineEvent,
    Failed,
    Message,
    Metrics,
    Paused,
    Started,
    Succeeded,
    TrainingJob,
)

__all__ = [
    "CANCEL",
    "NO_GPU_MESSAGE",
    "PAUSE",
    "RUN",
    "latest_checkpoint",
    "load_training_stack",
    "require",
    "run_job",
    "worker_main",
    "worker_survives",
]

RUN, CANCEL, PAUSE = 0, 1, 2
"""Values of the shared control flag."""

NO_GPU_MESSAGE = "no GPU: training on the CPU"
KEPT_AFTER = frozenset({"invalid_file", "invalid_options", "invalid_model", "missing_dependency"})
"""Failures after which the worker keeps running; after any other it exits (a fresh process
then takes the next job: a crash or an out-of-memory error may leave the device unusable)."""

Emit = Callable[[EngineEvent], None]


def require(name: str) -> Any:
    """Import a module of the `local` extra, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigurationError(
            f"the local backend needs {name}, which is not installed: "
            "pip install 'finetune-kit[local]'"
        ) from exc


def worker_survives(event: EngineEvent) -> bool:
    """Whether the worker keeps running after reporting `event` (the engine reads this too)."""
    return not isinstance(event, Failed) or event.code in KEPT_AFTER


def load_training_stack() -> str | None:
    """Import the `local` extra's training modules and quiet them; the error text if missing.

    Both ways of training call it first: the worker process, and each process `accelerate
    launch` starts (`finetune_kit.local.launched`).
    """
    try:
        for name in ("torch", "transformers", "trl", "peft", "datasets", "accelerate"):
            require(name)  # pay the imports once, before the first job
        require("transformers").logging.set_verbosity_error()
        require("datasets").disable_progress_bars()
        # TRL still passes transformers' old names: a warning per job that no user can act on.
        warnings.filterwarnings(
            "ignore",
            message=r"`(is_)?gradient_checkpointing` is deprecated",
            category=FutureWarning,
        )
    except ConfigurationError as exc:
        return str(exc)
    return None


def worker_main(tasks: Any, results: Any, control: Any, device: str) -> None:
    """Entry point of a worker process: run the queued jobs until a `None` task.

    A task is `(job, resume, up_to)`: see `run_job`.
    """
    # Ctrl-C in a terminal reaches the whole process group: the server decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    missing = load_training_stack()
    while True:
        task = tasks.get()
        if task is None:
            return
        job, resume, up_to = task

        def emit(event: EngineEvent, job_id: str = job.id) -> None:
            results.put((job_id, event))

        if missing is not None:
            emit(Failed("missing_dependency", missing))
        elif not run_job(
            job, resume=resume, up_to=up_to, control=control, device=device, emit=emit
        ):
            return


def latest_checkpoint(workdir: Path, up_to: int | None = None) -> tuple[int, Path] | None:
    """The newest resumable checkpoint of a job (`checkpoints/step-N` with a trainer state).

    `up_to`: the newest at or before that step.
    """
    found: list[tuple[int, Path]] = []
    folder = workdir / "checkpoints"
    if folder.is_dir():
        for path in folder.iterdir():
            name = path.name
            resumable = (path / "trainer_state.json").is_file()
            if name.startswith("step-") and name[5:].isdigit() and resumable:
                step = int(name[5:])
                if up_to is None or step <= up_to:
                    found.append((step, path))
    return max(found) if found else None


def run_job(
    job: TrainingJob,
    *,
    resume: bool,
    control: Any,
    device: str,
    emit: Emit,
    up_to: int | None = None,
    main_process: bool = True,
    barrier: Callable[[], None] | None = None,
) -> bool:
    """Run one job to its end, reporting through `emit`; False when the worker should exit.

    `resume`: continue from the latest checkpoint in the job's `workdir` (at or before step
    `up_to` when given), or from the start when there is none. `control.value` is read at
    the end of every step (`RUN`, `CANCEL` or `PAUSE`).

    Under `accelerate launch` every process runs this: `main_process` is True in one of them
    only (it writes the tokenizer and renames checkpoints), and `barrier` waits for all of
    them (before a checkpoint is renamed).
    """
    try:
        _Run(
            job,
            resume=resume,
            control=control,
            device=device,
            emit=emit,
            up_to=up_to,
            main_process=main_process,
            barrier=barrier,
        ).run()
    except DataError as exc:
        emit(Failed("invalid_file", str(exc)))
    except _ModelError as exc:
        emit(Failed("invalid_model", str(exc)))
    except ConfigurationError as exc:
        emit(Failed("invalid_options", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, none escapes
        options = job.options
        emit(_failure(exc, job, options))
        return False
    finally:
        gc.collect()
        torch = importlib.import_module("torch") if _imported("torch") else None
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    return True


def _imported(name: str) -> bool:
    import sys  # noqa: PLC0415

    return name in sys.modules


def _failure(exc: BaseException, job: TrainingJob, options: dict[str, Any]) -> Failed:
    text = f"{type(exc).__name__}: {exc}".strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    oom = type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text.lower()
    if oom:
        batch = job.hyperparameters.get("batch_size")
        length = options.get("max_length", TrainOptions().max_length)
        return Failed(
            "out_of_memory",
            f"the device ran out of memory (batch_size={batch}, max_length={length}): lower "
            "batch_size or max_length, or raise gradient_accumulation_steps; "
            "checkpoints saved so far are kept",
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return Failed(
            "disk_full",
            f"no space left on the device holding {job.workdir}: free some and resume; "
            "checkpoints saved so far are kept",
        )
    return Failed("training_error", first[:1000])


class _ModelError(Exception):
    """The base model can't be loaded (before anything touched the device)."""


class _Run:
    """One run of one job (a resume is a new run)."""

    def __init__(
        self,
        job: TrainingJob,
        *,
        resume: bool,
        control: Any,
        device: str,
        emit: Emit,
        up_to: int | None = None,
        main_process: bool = True,
        barrier: Callable[[], None] | None = None,
    ) -> None:
        self.job = job
        self.resume = resume
        self.up_to = up_to
        self.main_process = main_process
        self.barrier = barrier
        self.control = control
        self.device = device
        self.emit = emit
        self.options = TrainOptions.parse(job.options)
        self.torch = require("torch")
        self.transformers = require("transformers")
        self.stopping: str | None = None
        self.saved_steps: set[int] = set()

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> None:  # noqa: PLR0915 - one straight sequence, easier read whole
        job, opts = self.job, self.options
        if job.method not in ("supervised", "dpo"):
            raise ConfigurationError(
                f"the local backend trains supervised and dpo jobs, not {job.method}"
            )
        use_cpu, bf16, fp16 = self._device()
        tokenizer = self._load(self.transformers.AutoTokenizer, job.model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if job.method == "dpo":
            train = self._pairs(tokenizer, job.training_file)
            valid = self._pairs(tokenizer, job.validation_file) if job.validation_file else None
        else:
            train_rows = self._encode(tokenizer, job.training_file)
            if not any(e.trained_tokens for e in train_rows):
                raise DataError(
                    job.training_file.name,
                    None,
                    "no assistant token left to train on (every assistant turn has weight 0 "
                    "or lies beyond max_length)",
                )
            valid_rows = self._encode(tokenizer, job.validation_file) if job.validation_file else []
        if self._stop_requested_before_start():
            return

        checkpoint = latest_checkpoint(job.workdir, self.up_to) if self.resume else None
        dtype = self.torch.bfloat16 if bf16 and not opts.full_fine_tuning else None
        model = self._load(self.transformers.AutoModelForCausalLM, job.model, dtype=dtype)
        hp = job.hyperparameters
        common: dict[str, Any] = {
            "output_dir": str(job.workdir / "checkpoints"),
            "num_train_epochs": int(hp["n_epochs"]),
            "per_device_train_batch_size": int(hp["batch_size"]),
            "per_device_eval_batch_size": int(hp["batch_size"]),
            "gradient_accumulation_steps": opts.gradient_accumulation_steps,
            "learning_rate": float(hp["learning_rate_multiplier"]) * opts.base_learning_rate(),
            "lr_scheduler_type": "linear",
            "warmup_steps": opts.warmup_ratio,
            "logging_steps": 1,
            "save_strategy": "no",  # the callback asks for a checkpoint at each epoch's end
            "eval_strategy": "no",  # valid metrics: see the callback
            "report_to": [],
            "seed": job.seed,
            "data_seed": job.seed,
            "use_cpu": use_cpu,
            "bf16": bf16,
            "fp16": fp16,
            "disable_tqdm": True,
            "dataloader_num_workers": 0,
        }
        peft_config = None
        if not opts.full_fine_tuning:
            peft = require("peft")
            targets = opts.lora_targets
            peft_config = peft.LoraConfig(
                r=opts.lora_rank,
                lora_alpha=opts.lora_alpha,
                lora_dropout=opts.lora_dropout,
                target_modules=targets if isinstance(targets, str) else list(targets),
                task_type="CAUSAL_LM",
            )
        self.transformers.set_seed(job.seed)
        trl = require("trl")
        datasets = require("datasets")
        callback = _callback(self.transformers)(self)
        if job.method == "dpo":
            args = trl.DPOConfig(
                **common, beta=float(hp.get("beta", 0.1)), max_length=opts.max_length
            )
            trainer = trl.DPOTrainer(
                model=model,
                args=args,
                train_dataset=datasets.Dataset.from_list(train),
                eval_dataset=datasets.Dataset.from_list(valid) if valid else None,
                processing_class=tokenizer,
                peft_config=peft_config,
                callbacks=[callback],
            )
            callback.dpo_eval = bool(valid)
            tokens_per_epoch = sum(
                2 * len(r["prompt_ids"]) + len(r["chosen_ids"]) + len(r["rejected_ids"])
                for r in trainer.train_dataset
            )
        else:
            args = trl.SFTConfig(
                **common,
                max_length=None,  # rows are cut to max_length when encoded
                dataset_kwargs={"skip_prepare_dataset": True},
            )
            trainer = trl.SFTTrainer(
                model=model,
                args=args,
                train_dataset=datasets.Dataset.from_list(
                    [{"input_ids": e.input_ids, "labels": e.labels} for e in train_rows]
                ),
                processing_class=tokenizer,
                peft_config=peft_config,
                callbacks=[callback],
            )
            callback.valid = _Validation(self.torch, valid_rows, int(hp["batch_size"]), tokenizer)
            tokens_per_epoch = sum(len(e.input_ids) for e in train_rows)
        trainer.remove_callback(self.transformers.trainer_callback.PrinterCallback)
        if checkpoint is not None:
            self.emit(Message("info", f"resuming from the checkpoint of step {checkpoint[0]}"))
        trainer.train(resume_from_checkpoint=str(checkpoint[1]) if checkpoint else None)
        if self.stopping == "cancel":
            self.emit(Cancelled())
        elif self.stopping == "pause":
            self.emit(Paused())
        else:
            out = job.workdir / "model"
            trainer.save_model(str(out))  # every process: sharded weights need them all
            if self.main_process:
                tokenizer.save_pretrained(str(out))
            self.emit(Succeeded(tokens_per_epoch * int(hp["n_epochs"]), out))
        del trainer, model

    def _load(self, auto: Any, location: str, **kwargs: Any) -> Any:
        """`auto.from_pretrained(location)`; a model that can't load is `invalid_model`."""
        try:
            return auto.from_pretrained(location, **kwargs)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise _ModelError(
                f"cannot load {location} as a causal language model ({type(exc).__name__}: {first})"
            ) from exc

    def _device(self) -> tuple[bool, bool, bool]:
        """(use_cpu, bf16, fp16) for the trainer; says when there is no GPU."""
        cuda = bool(self.torch.cuda.is_available())
        if self.device == "auto":
            use_cpu = not cuda
            if use_cpu:
                self.emit(Message("info", NO_GPU_MESSAGE))
        elif self.device == "cpu":
            use_cpu = True
        elif self.device.startswith("cuda"):
            if not cuda:
                raise ConfigurationError(f"device {self.device!r} asked for, but torch sees no GPU")
            use_cpu = False
        else:
            raise ConfigurationError(f"unknown device {self.device!r}: auto, cpu or cuda")
        precision = self.options.precision
        if precision == "auto":
            precision = "bf16" if not use_cpu and self.torch.cuda.is_bf16_supported() else "fp32"
        return use_cpu, precision == "bf16", precision == "fp16"

    def _stop_requested_before_start(self) -> bool:
        flag = int(self.control.value)
        if flag == CANCEL:
            self.emit(Cancelled())
            return True
        if flag == PAUSE:
            self.emit(Paused())
            return True
        return False

    def _encode(self, tokenizer: Any, path: Path) -> list[Encoded]:
        rows = [
            encode_supervised(tokenizer, row, where, max_length=self.options.max_length)
            for where, row in read_rows(path)
        ]
        if not rows:
            raise DataError(path.name, None, "has no examples")
        return rows

    def _pairs(self, tokenizer: Any, path: Path) -> list[dict[str, str]]:
        rows = [preference_texts(tokenizer, row, where) for where, row in read_rows(path)]
        if not rows:
            raise DataError(path.name, None, "has no examples")
        return rows

    # --- what the callback reports ----------------------------------------------------------

    def checkpoint_saved(self, output_dir: str, step: int) -> None:
        """Move the trainer's `checkpoint-N` to `step-N` and report it (once per step)."""
        source = Path(output_dir) / f"checkpoint-{step}"
        target = Path(output_dir) / f"step-{step}"
        if self.barrier is not None:
            self.barrier()  # every process has written its part of the checkpoint
        if not self.main_process:
            return
        if source.is_dir():
            if target.exists():
                shutil.rmtree(target)
            source.replace(target)
        if step not in self.saved_steps and target.is_dir():
            self.saved_steps.add(step)
            self.emit(CheckpointSaved(step, target))


class _Validation:
    """Valid loss and token accuracy of an SFT model, measured by the callback."""

    def __init__(self, torch: Any, rows: list[Encoded], batch_size: int, tokenizer: Any) -> None:
        self.torch = torch
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.batches = [
            self._collate(rows[i : i + batch_size], pad) for i in range(0, len(rows), batch_size)
        ]

    def __bool__(self) -> bool:
        return bool(self.batches)

    def _collate(self, rows: list[Encoded], pad: int) -> tuple[Any, Any, Any]:
        width = max(len(r.input_ids) for r in rows)
        ids = [r.input_ids + [pad] * (width - len(r.input_ids)) for r in rows]
        labels = [r.labels + [IGNORE_INDEX] * (width - len(r.labels)) for r in rows]
        mask = [[1] * len(r.input_ids) + [0] * (width - len(r.input_ids)) for r in rows]
        t = self.torch
        return t.tensor(ids), t.tensor(mask), t.tensor(labels)

    def measure(self, model: Any, indices: list[int]) -> tuple[float, float]:
        """(mean loss per trained token, token accuracy) over the batches at `indices`."""
        torch = self.torch
        total = correct = 0
        loss_sum = 0.0
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        try:
            with torch.no_grad():
                for index in indices:
                    ids, mask, labels = (x.to(device) for x in self.batches[index])
                    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1, :].float()
                    target = labels[:, 1:]
                    keep = target != IGNORE_INDEX
                    if not bool(keep.any()):
                        continue
                    loss_sum += float(
                        torch.nn.functional.cross_entropy(
                            logits[keep], target[keep], reduction="sum"
                        )
                    )
                    correct += int((logits.argmax(-1)[keep] == target[keep]).sum())
                    total += int(keep.sum())
        finally:
            if was_training:
                model.train()
        if total == 0:
            return math.nan, math.nan
        return loss_sum / total, correct / total


def _callback(transformers: Any) -> Any:
    """The TrainerCallback class (made on demand: transformers is imported lazily)."""

    class EngineCallback(transformers.TrainerCallback):  # type: ignore[misc]
        def __init__(self, run: _Run) -> None:
            self.run = run
            self.valid: _Validation | None = None
            self.dpo_eval = False
            self.steps_per_epoch = 1
            self.pending: dict[str, Any] | None = None

        def on_train_begin(self, args: Any, state: Any, _control: Any, **_: Any) -> None:
            epochs = max(1, int(args.num_train_epochs))
            self.steps_per_epoch = max(1, state.max_steps // epochs)
            self.run.emit(Started(int(state.max_steps)))

        def epoch_end(self, step: int) -> bool:
            return step % self.steps_per_epoch == 0

        def on_step_end(self, _args: Any, state: Any, control: Any, **_: Any) -> None:
            flag = int(self.run.control.value)
            step = int(state.global_step)
            if flag == CANCEL:
                self.run.stopping = "cancel"
                control.should_training_stop = True
                return
            if flag == PAUSE:
                self.run.stopping = "pause"
                control.should_training_stop = True
                control.should_save = True
            if self.epoch_end(step):
                control.should_save = True
                if self.dpo_eval and self.run.stopping is None:
                    control.should_evaluate = True

        def on_log(
            self, _args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            logs = logs or {}
            step = int(state.global_step)
            if "loss" in logs:
                data: dict[str, Any] = {
                    "step": step,
                    "train_loss": float(logs["loss"]),
                    "train_mean_token_accuracy": float(logs.get("mean_token_accuracy", math.nan)),
                }
                model = kwargs.get("model")
                if self.valid and model is not None:
                    opts = self.run.options
                    count = len(self.valid.batches)
                    if step % opts.eval_steps == 0:
                        loss, acc = self.valid.measure(model, [(step - 1) % count])
                        data["valid_loss"], data["valid_mean_token_accuracy"] = loss, acc
                    if self.epoch_end(step):
                        loss, acc = self.valid.measure(model, list(range(count)))
                        data["full_valid_loss"] = loss
                        data["full_valid_mean_token_accuracy"] = acc
                if control.should_evaluate:
                    self.pending = data  # the evaluation that follows completes it
                else:
                    self.run.emit(Metrics(**data))
            elif "eval_loss" in logs and self.pending is not None:
                self.pending["full_valid_loss"] = float(logs["eval_loss"])
                self.pending["full_valid_mean_token_accuracy"] = float(
                    logs.get("eval_mean_token_accuracy", math.nan)
                )
                self.run.emit(Metrics(**self.pending))
                self.pending = None

        def on_save(self, args: Any, state: Any, _control: Any, **_: Any) -> None:
            self.run.checkpoint_saved(args.output_dir, int(state.global_step))

    return EngineCallback
