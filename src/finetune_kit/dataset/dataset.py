"""`Dataset`: a training file (or in-memory rows) to check, count, price, split and write."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pydantic_core
from pydantic import BaseModel

from finetune_kit._io import atomic_write
from finetune_kit.dataset.catalog import Provider, require_trainable
from finetune_kit.dataset.engine import (
    SNIFF_LINES,
    Method,
    example_key,
    iter_file_lines,
    not_text_report,
    settings_for,
    sniff_file,
    sniff_format,
    validate_lines,
    validate_path,
)
from finetune_kit.dataset.lines import BOM
from finetune_kit.dataset.parallel import default_workers
from finetune_kit.dataset.report import CostEstimate, ValidationReport
from finetune_kit.exceptions import ConfigurationError, DatasetError

if TYPE_CHECKING:  # the dataset layer never imports the SDK at run time
    from openai import AsyncOpenAI, OpenAI
    from openai.types import FileObject

    from finetune_kit.dataset.hf_tokens import OpenWeights

__all__ = ["Dataset"]

_NOT_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Dataset:
    """Training examples from a JSONL file or from memory.

    A file-backed dataset is never read whole: validation streams it (in parallel on large
    files), so a multi-gigabyte file validates in bounded memory. A `.jsonl.gz` file is read
    decompressed, as a stream. Rows are plain JSON objects
    (`dict`), in any training format: supervised chat (text, tools, images), DPO preference
    pairs, reinforcement rows, or legacy prompt/completion.

    Example:
        ```python
        ds = Dataset.from_jsonl("train.jsonl")
        report = ds.validate(model="gpt-4o-mini-2024-07-18")
        print(report)              # findings with line and field, stats, cost estimate
        report.raise_for_errors()  # DatasetError if the provider would reject the file
        ```

    Added in 0.1.0.
    """

    __slots__ = ("_path", "_records", "source")

    def __init__(
        self,
        *,
        path: Path | None = None,
        records: list[Any] | None = None,
        name: str | None = None,
    ) -> None:
        if (path is None) == (records is None):
            raise ConfigurationError(
                "give exactly one of path= or records= (or use from_jsonl / from_records)"
            )
        if name is not None and path is not None:
            raise ConfigurationError("name= is for in-memory rows: a file is named by its path")
        self._path = path
        self._records = records
        self.source: str = str(path) if path is not None else (name or "<records>")
        """What findings and errors name: the file, the `name=` of in-memory rows (by default
        `"<records>"`), or what a split or deduplication came from, e.g.
        `"train.jsonl (test split)"`."""

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike[str]) -> Dataset:
        """Open a JSONL file (one JSON object per line). Nothing is read until it is used.

        A name ending in `.gz` (`train.jsonl.gz`) is read as gzip-compressed JSONL, decompressed
        as a stream; uploading it sends the decompressed JSONL.

        Raises:
            FileNotFoundError: The file does not exist.
            IsADirectoryError: It is a directory.
            OSError: It is not a regular file (a named pipe, a device, a socket): a training
                file is read more than once.
        """
        p = Path(path)
        try:
            mode = p.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(f"no such training file: {p}") from None
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(
                f"{p} is a directory, not a training file: name the JSONL file in it"
            )
        for test, kind in _NOT_FILES:
            if test(mode):
                raise OSError(
                    f"{p} is {kind}, not a training file: its data is read more than once, "
                    "so save it to a file first (a .jsonl.gz file is read as it is)"
                )
        return cls(path=p)

    @classmethod
    def from_records(
        cls, records: Iterable[dict[str, Any] | BaseModel], *, name: str | None = None
    ) -> Dataset:
        """Build a dataset from rows: dicts, or pydantic models (dumped as JSON, unset fields dropped).

        Args:
            records: The rows.
            name: What findings and errors call these rows (default `"<records>"`).

        Raises:
            DatasetError: A row can't be represented as JSON (names its 1-based position).
        """
        rows: list[Any] = []
        for i, rec in enumerate(records, start=1):
            row: Any = (
                rec.model_dump(mode="json", exclude_unset=True, by_alias=True)
                if isinstance(rec, BaseModel)
                else rec
            )
            try:
                json.dumps(row, allow_nan=False)
            except (TypeError, ValueError) as exc:
                source = name or "<records>"
                raise DatasetError(
                    f"{source}:{i}: the row can't be written as JSON ({exc})",
                    source=source,
                    line=i,
                ) from None
            rows.append(row)
        return cls(records=rows, name=name)

    # --- reading ----------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The file behind the dataset, or `None` for in-memory rows."""
        return self._path

    def __len__(self) -> int:
        """The number of examples (non-blank lines)."""
        if self._records is not None:
            return len(self._records)
        return sum(1 for raw in self._lines() if raw.strip())

    def __iter__(self) -> Iterator[Any]:
        """Yield each row as parsed JSON, skipping blank lines.

        Raises:
            DatasetError: A line is not valid JSON (names the file and line).
        """
        if self._records is not None:
            yield from self._records
            return
        for line, raw in enumerate(self._lines(), start=1):
            if not raw.strip():
                continue
            try:
                yield pydantic_core.from_json(raw, allow_inf_nan=False)
            except ValueError as exc:
                reason = sniff_file(self._path) if self._path is not None else None
                if reason is not None:
                    raise DatasetError(f"{self.source}: {reason}", source=self.source) from None
                raise DatasetError(
                    f"{self.source}:{line}: not valid JSON ({str(exc).split(' at line ')[0]}); "
                    "validating the file names every problem at once",
                    source=self.source,
                    line=line,
                ) from None

    def __repr__(self) -> str:
        return f"<Dataset {self.source}>"

    def _lines(self) -> Generator[bytes, None, None]:
        """Each line as bytes, without its newline or a leading BOM (records dumped as JSON)."""
        if self._path is not None:
            lines = iter_file_lines(self._path)
            try:
                first = next(lines, None)
                if first is not None:
                    yield first.removeprefix(BOM)
                yield from lines
            finally:
                lines.close()
        else:
            for row in self._records or ():
                yield json.dumps(row, ensure_ascii=False, allow_nan=False).encode()

    # --- validation and cost ----------------------------------------------------------------

    def validate(
        self,
        *,
        model: str,
        method: Method | None = None,
        validation: Dataset | str | os.PathLike[str] | None = None,
        n_epochs: int | Literal["auto"] = "auto",
        prices: dict[str, float] | None = None,
        workers: int | None = None,
        max_findings: int = 10_000,
        provider: Provider | None = None,
        known_models: Collection[str] | None = None,
        now: Callable[[], float] | None = None,
    ) -> ValidationReport:
        """Check every line as the provider would, count tokens, and estimate the cost.

        Validation never stops at the first problem: each finding names its line and field and
        says how to fix it. Token counts use the tokenizer of `model`'s base model and need no
        network.

        Args:
            model: The model to train (`ft:` and Azure names resolve to their base). It picks
                the tokenizer, the training context and the price. An open-weights model, a
                model folder or a hub id `org/name` already in the Hugging Face cache, counts
                each example with its own chat template, as its trainer sees it (needs the
                `local` extra; never downloads; counted in this process, whatever `workers`).
            method: `"supervised"`, `"dpo"` or `"reinforcement"`. By default the format is
                detected from the first 1,000 lines.
            validation: A validation set to check for overlap with this one (leakage).
            n_epochs: Epochs for the estimate, or `"auto"` for the cookbook heuristic.
            prices: USD per 1M training tokens, by model, base or family; overrides the table.
            workers: Processes for large files (default: the CPUs available; 1 = this process;
                an open-weights model's chat template always counts in this process).
            max_findings: Findings to list; beyond it they are counted in `counts` only.
            provider: `"openai"` or `"azure"`: whose shutdown dates apply (default OpenAI's,
                unless `model` is spelled Azure's way). Azure's schedule is not published, so
                nothing is shut down there.
            known_models: Model ids the provider serves (e.g. from `client.models.list()`): a
                model listed there is accepted even when finetune-kit does not know it.
            now: The clock of the shutdown check (default: the real time).

        Returns:
            The report: `.ok`, `.errors`, `.warnings`, `.stats`, `.estimate`.

        Raises:
            UnknownModelError: `model` is unknown (the message names the closest known name),
                or a hub id that is not in the Hugging Face cache.
            RetiredModelError: `model` (or its base) has shut down (the message names the date
                and what to train instead).
            ConfigurationError: A bad `method` or `n_epochs`; an open-weights model while
                transformers is not installed, a folder that holds no model, or a tokenizer
                without a chat template.
        """
        weights = _open_weights(model, known_models)
        if weights is None:
            require_trainable(
                model,
                now=now() if now is not None else None,
                provider=provider,
                known_remote=known_models,
            )
        if n_epochs != "auto" and not (type(n_epochs) is int and 1 <= n_epochs <= 50):
            raise ConfigurationError(
                f"n_epochs must be 'auto' or an integer from 1 to 50, not {n_epochs!r}"
            )
        if method is not None and method not in ("supervised", "dpo", "reinforcement"):
            raise ConfigurationError(
                f"method must be 'supervised', 'dpo' or 'reinforcement', not {method!r}"
            )
        if self._path is not None and (reason := sniff_file(self._path)) is not None:
            return not_text_report(
                self.source,
                settings=settings_for(model, "unknown", weights),
                reason=reason,
                n_epochs=n_epochs,
                prices=prices,
                max_findings=max_findings,
            )
        fmt = sniff_format(_head(self._lines(), SNIFF_LINES), method)
        settings = settings_for(model, "chat" if fmt == "unknown" else fmt, weights)
        vkeys = None
        if validation is not None:
            other = (
                validation if isinstance(validation, Dataset) else Dataset.from_jsonl(validation)
            )
            vkeys = other._keys()  # noqa: SLF001 - same class
        if self._path is not None:
            return validate_path(
                self._path,
                settings=settings,
                workers=default_workers() if workers is None else workers,
                validation_keys=vkeys,
                n_epochs=n_epochs,
                prices=prices,
                max_findings=max_findings,
            )
        return validate_lines(
            self._lines(),
            source=self.source,
            settings=settings,
            validation_keys=vkeys,
            n_epochs=n_epochs,
            prices=prices,
            max_findings=max_findings,
        )

    def estimate(
        self,
        *,
        model: str,
        n_epochs: int | Literal["auto"] = "auto",
        prices: dict[str, float] | None = None,
    ) -> CostEstimate:
        """Return the training cost estimate (the `estimate` of a full validation).

        Raises:
            DatasetError: The file is not JSONL text (`not_jsonl_text`): there is nothing to
                count.
        """
        report = self.validate(model=model, n_epochs=n_epochs, prices=prices)
        if "not_jsonl_text" in report.counts:
            report.raise_for_errors()
        return report.estimate

    # --- duplicates, overlap, split ---------------------------------------------------------

    def _keys(self) -> dict[int, int]:
        keys: dict[int, int] = {}
        for line, raw in enumerate(self._lines(), start=1):
            if raw.strip():
                keys.setdefault(example_key(raw), line)
        return keys

    def duplicates(self) -> list[list[int]]:
        """Return groups of 1-based lines holding the same example (byte-identical, trimmed)."""
        groups: dict[int, list[int]] = {}
        for line, raw in enumerate(self._lines(), start=1):
            if raw.strip():
                groups.setdefault(
                    example_key(raw.removeprefix(BOM) if line == 1 else raw), []
                ).append(line)
        return [g for g in groups.values() if len(g) > 1]

    def deduplicate(self) -> Dataset:
        """Return an in-memory dataset keeping the first copy of each example, in order.

        It is named after this one: `"train.jsonl (deduplicated)"`.
        """
        seen: set[int] = set()
        rows: list[Any] = []
        for raw, row in zip(self._lines_nonblank(), self, strict=True):
            key = example_key(raw)
            if key not in seen:
                seen.add(key)
                rows.append(row)
        return Dataset(records=rows, name=f"{self.source} (deduplicated)")

    def _lines_nonblank(self) -> Iterator[bytes]:
        return (raw for raw in self._lines() if raw.strip())

    def overlap(self, other: Dataset | str | os.PathLike[str]) -> list[tuple[int, int]]:
        """Return (line here, line there) for each example of this dataset also in `other`."""
        theirs = (other if isinstance(other, Dataset) else Dataset.from_jsonl(other))._keys()  # noqa: SLF001
        return [(line, theirs[k]) for k, line in self._keys().items() if k in theirs]

    def split(self, test_size: float = 0.1, *, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Split into (train, test), reproducibly.

        Examples are ranked by a hash of their content and `seed` and the first `test_size` go to
        test, so the split is the same on every machine and Python version, whatever the order of
        the rows. Exact duplicates land on the same side (test may grow by their copies), so the
        split never leaks them.

        Args:
            test_size: A fraction in (0, 1) of the examples, or a count.
            seed: Change it for a different split.

        Returns:
            Two in-memory datasets, each in the original order, named after this one (their
            `source`, in findings and errors): `"train.jsonl (train split)"` and
            `"train.jsonl (test split)"`.
        """
        rows = list(self)
        n = len(rows)
        n_test = round(n * test_size) if isinstance(test_size, float) else int(test_size)
        if isinstance(test_size, float) and not 0 < test_size < 1:
            raise ConfigurationError(f"test_size must be in (0, 1) or a count, not {test_size}")
        if not 0 <= n_test <= n:
            raise ConfigurationError(f"test_size {test_size} does not fit {n} examples")
        salt = str(seed).encode()
        raws = list(self._lines_nonblank())
        ranked = sorted(
            range(n),
            key=lambda i: (
                hashlib.blake2b(raws[i].strip(), digest_size=8, key=salt[:64]).digest(),
                i,
            ),
        )
        test_idx = set(ranked[:n_test])
        # Keep duplicates together: a test example's copies go to test too.
        test_keys = {example_key(raws[i]) for i in test_idx}
        test_idx |= {i for i in range(n) if example_key(raws[i]) in test_keys}
        train = [rows[i] for i in range(n) if i not in test_idx]
        test = [rows[i] for i in range(n) if i in test_idx]
        return (
            Dataset(records=train, name=f"{self.source} (train split)"),
            Dataset(records=test, name=f"{self.source} (test split)"),
        )

    # --- uploading ----------------------------------------------------------------------------

    def upload(self, client: OpenAI, *, model: str | None = None, **options: Any) -> FileObject:
        """Validate, then upload to the provider; return the processed `FileObject`.

        Refuses data with errors unless `force=True`. The remote file's name carries a hash of
        the content, so uploading the same bytes again, from any machine, reuses the processed
        file. Files above `threshold` (256 MB) go through the Uploads API in parallel parts
        (`part_size` 64 MB, `concurrency` 4, md5-checked), read from disk part by part.

        Args:
            client: An `openai.OpenAI` (or `AzureOpenAI`) client.
            model: The model the data is for (validation uses its tokenizer and context).
            **options: `force`, `dedupe`, `wait`, `timeout`, `threshold`, `part_size`,
                `concurrency` (see `finetune_kit.files.UploadOptions`), and `sleep`.

        Raises:
            DatasetError: The data has errors (nothing uploaded).
            FileRejectedError: The provider could not process the file (`.line` when it says).
        """
        from finetune_kit.files import UploadOptions, upload  # noqa: PLC0415 - I/O lives there

        sleep = options.pop("sleep", None)
        opts = UploadOptions(model=model, **options)
        return (
            upload(client, self, opts) if sleep is None else upload(client, self, opts, sleep=sleep)
        )

    async def aupload(
        self, client: AsyncOpenAI, *, model: str | None = None, **options: Any
    ) -> FileObject:
        """The async twin of [`upload`][finetune_kit.Dataset.upload], for `AsyncOpenAI` clients."""
        from finetune_kit.files import UploadOptions, aupload  # noqa: PLC0415 - I/O lives there

        sleep = options.pop("sleep", None)
        opts = UploadOptions(model=model, **options)
        if sleep is None:
            return await aupload(client, self, opts)
        return await aupload(client, self, opts, sleep=sleep)

    # --- writing ----------------------------------------------------------------------------

    def to_jsonl(self, path: str | os.PathLike[str]) -> Path:
        """Write the examples as UTF-8 JSONL (no BOM, no blank lines); return the path.

        The file is written whole or not at all: the rows go to a temporary file in the same
        folder, renamed onto `path` at the end. So writing onto the dataset's own file is safe
        (`Dataset.from_jsonl(p).to_jsonl(p)` rewrites it in normal form), a bad row or Ctrl-C
        halfway leaves the old file as it was, and a `path` that is a symbolic link is replaced
        by a regular file (its target is left alone). An existing file keeps its permissions.

        Raises:
            DatasetError: A line of the source is not valid JSON (nothing written).
            OSError: The folder is missing or not writable, or the disk is full (nothing written).
        """
        out = Path(path)
        with atomic_write(out) as f:
            for row in self:
                f.write(json.dumps(row, ensure_ascii=False, allow_nan=False).encode())
                f.write(b"\n")
        return out


def _open_weights(model: str, known_models: Collection[str] | None) -> OpenWeights | None:
    """The open-weights model (folder or cached hub id) `model` names, or `None`.

    A hub id that can't be resolved here but that the provider lists (`known_models`) is
    counted as the provider's own model.
    """
    from finetune_kit.dataset.hf_tokens import is_open_weights, open_weights  # noqa: PLC0415

    if not is_open_weights(model):
        return None
    try:
        return open_weights(model)
    except ConfigurationError:
        if known_models is not None and model in known_models:
            return None
        raise


def _head(lines: Generator[bytes, None, None], n: int) -> Iterator[bytes]:
    try:
        for i, raw in enumerate(lines):
            if i >= n:
                break
            yield raw
    finally:
        lines.close()
