"""The demo's base model: a folder, or a Hugging Face hub id.

A hub id comes from the Hugging Face cache, or is downloaded after a yes (the question says how
big it is).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finetune_kit.cli.context import Context
from finetune_kit.exceptions import ConfigurationError, FinetuneKitError

if TYPE_CHECKING:
    from finetune_kit.cli.demo import DemoOptions

__all__ = ["cached", "download", "download_size", "local_model", "require_local_stack", "size_text"]

LOCAL_INSTALL = "pip install 'finetune-kit[local]'"
LOCAL_STACK = ("torch", "transformers", "trl", "peft")


def require_local_stack() -> None:
    """One clear line when the `local` extra is missing (torch and the rest load only here)."""
    missing: list[str] = []
    for name in LOCAL_STACK:
        try:
            importlib.import_module(name)
        except ImportError:  # noqa: PERF203 - four names
            missing.append(name)
    if missing:
        raise ConfigurationError(
            f"demo --local needs the `local` extra ({', '.join(missing)} not installed): "
            f"{LOCAL_INSTALL}"
        )


def cached(model_id: str) -> str | None:
    """`model_id`'s folder in the Hugging Face cache, None when it is not there (no network)."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415 - the `local` extra

    try:
        return str(snapshot_download(model_id, local_files_only=True))
    except (OSError, ValueError):  # LocalEntryNotFoundError: not in the cache
        return None


def download_size(model_id: str) -> int | None:
    """The bytes `model_id`'s files take on the hub (its metadata only), None if unknown."""
    from huggingface_hub import HfApi  # noqa: PLC0415 - the `local` extra

    try:
        info = HfApi().model_info(model_id, files_metadata=True)
    except Exception:  # noqa: BLE001 - offline or refused: the size is only for the question
        return None
    total = sum(sibling.size or 0 for sibling in info.siblings or [])
    return total or None


def download(model_id: str) -> str:
    """Download `model_id` into the Hugging Face cache; return its folder."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415 - the `local` extra

    try:
        return str(snapshot_download(model_id))
    except Exception as exc:  # noqa: BLE001 - any failure: one line, nothing half-used
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FinetuneKitError(f"could not download {model_id}: {first}") from None


def size_text(count: int | None) -> str:
    """`988 MB`, `1.5 GB`; "size unknown" for None."""
    if count is None:
        return "size unknown"
    if count >= 10**9:
        return f"about {count / 10**9:.1f} GB"
    return f"about {max(1, round(count / 10**6))} MB"


def local_model(options: DemoOptions, ctx: Context, out: Callable[[str], None]) -> str | None:
    """The base model's folder or cached hub id; None when the download was declined.

    A folder is used as it is. A hub id not in the Hugging Face cache is downloaded only after
    a yes (the question says how big it is), or with `--yes`; without a terminal to ask on and
    without `--yes` it is an error, and nothing is looked up or downloaded.
    """
    from finetune_kit.dataset.hf_tokens import is_open_weights  # noqa: PLC0415

    given = options.base_model.strip()
    path = Path(given).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if not is_open_weights(given):
        raise FinetuneKitError(
            f"--base-model must be a model folder or a Hugging Face hub id (org/name), "
            f"not {given!r}"
        )
    found = (options.cached or cached)(given)
    if found is not None:
        return found
    if not options.yes and not ctx.can_ask():
        raise FinetuneKitError(
            f"{given} is not in the Hugging Face cache and there is no terminal to ask on: "
            "run with --yes to download it, or give a model folder with --base-model"
        )
    size = size_text((options.download_size or download_size)(given))
    if options.yes:
        out(f"{given} is not in the Hugging Face cache: downloading it ({size}).")
    elif not ctx.ask(
        f"{given} is not in the Hugging Face cache: download it from huggingface.co ({size})? "
        "[y/N] "
    ):
        out(
            "Nothing was downloaded. Run again and answer y (or pass --yes), or give a model "
            "folder with --base-model."
        )
        return None
    return (options.download or download)(given)
