"""`files list|show|check|download|delete`: the files uploaded to the provider."""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from finetune_kit._io import atomic_write
from finetune_kit.cli.context import Context
from finetune_kit.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from finetune_kit.cli.flags import add_training_flags, epochs
from finetune_kit.cli.provider import add_provider_flags
from finetune_kit.cli.tables import table
from finetune_kit.cli.watching import utc
from finetune_kit.exceptions import ConfigurationError

if TYPE_CHECKING:  # the heavy modules are loaded when a command runs
    from openai import OpenAI
    from openai.types import FileObject


__all__ = ["add_file_commands", "download"]


def add_file_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `files` and its subcommands."""
    files = sub.add_parser("files", help="list, show, check, download or delete uploaded files")
    files_sub = files.add_subparsers(dest="files_command", required=True, metavar="SUBCOMMAND")

    listing = files_sub.add_parser("list", help="the newest files")
    listing.add_argument("--purpose", help="only files of this purpose (fine-tune, batch...)")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_provider_flags(listing)
    listing.set_defaults(handler=run_files_list)

    show = files_sub.add_parser("show", help="one file: name, purpose, size, status")
    _add_file_arg(show)
    show.add_argument("--json", action="store_true", help="print the file as JSON")
    show.set_defaults(handler=run_files_show)

    check = files_sub.add_parser(
        "check",
        help="download an uploaded file and validate it as `validate` does (exit 1 on errors)",
        description="Download a file already uploaded and run the checks of `validate` on it: "
        "findings, stats and cost, named by the file's id.",
    )
    _add_file_arg(check)
    add_training_flags(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.add_argument("--strict", action="store_true", help="exit 1 on warnings as well")
    check.set_defaults(handler=run_files_check)

    get = files_sub.add_parser(
        "download",
        help="save a file's content (written whole or not at all)",
        description="Save a file's content. Without -o it goes to the file's own name in the "
        "current folder, and an existing file there is not replaced.",
    )
    _add_file_arg(get)
    get.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="where to write it: a file (replaced), a folder, or - for stdout",
    )
    get.set_defaults(handler=run_files_download)

    delete = files_sub.add_parser("delete", help="delete a file (asks first)")
    _add_file_arg(delete)
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    delete.set_defaults(handler=run_files_delete)


def _add_file_arg(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("file", metavar="FILE_ID", help="the file's id (file-...)")
    add_provider_flags(cmd)


def _size(count: int) -> str:
    return f"{count:,}"


def run_files_list(args: argparse.Namespace, ctx: Context) -> int:
    """`files list`."""
    if args.limit < 1:
        raise ConfigurationError(f"--limit must be at least 1, not {args.limit}")
    client = ctx.make_client(args)
    query: dict[str, Any] = {"limit": min(args.limit, 10_000)}
    if args.purpose:
        query["purpose"] = args.purpose
    found = list(islice(client.files.list(**query), args.limit))
    if args.json:
        print(json.dumps([f.model_dump(mode="json") for f in found], indent=2))
        return EXIT_OK
    if not found:
        kind = f" with purpose {args.purpose}" if args.purpose else ""
        print(f"No files{kind}.")
        return EXIT_OK
    table(
        ("file", "purpose", "bytes", "status", "created", "filename"),
        [(f.id, f.purpose, _size(f.bytes), f.status, utc(f.created_at), f.filename) for f in found],
    )
    return EXIT_OK


def _details(file: FileObject) -> list[str]:
    lines = [
        f"file      {file.id}",
        f"filename  {file.filename}",
        f"purpose   {file.purpose}",
        f"bytes     {_size(file.bytes)}",
        f"status    {file.status}",
        f"created   {utc(file.created_at)}",
    ]
    if file.expires_at:
        lines.append(f"expires   {utc(file.expires_at)}")
    if file.status_details:
        lines.append(f"details   {' '.join(file.status_details.split())}")
    return lines


def run_files_show(args: argparse.Namespace, ctx: Context) -> int:
    """`files show`."""
    file = ctx.make_client(args).files.retrieve(args.file)  # 404 -> one line, exit 3
    print(file.model_dump_json(indent=2) if args.json else "\n".join(_details(file)))
    return EXIT_OK


def download(client: OpenAI, file_id: str, out: IO[bytes]) -> int:
    """Stream a file's content into `out`, chunk by chunk; return the number of bytes."""
    size = 0
    with client.files.with_streaming_response.content(file_id) as response:
        for chunk in response.iter_bytes():
            out.write(chunk)
            size += len(chunk)
    return size


def _download_to(client: OpenAI, file_id: str, dest: Path) -> int:
    """Download to `dest` atomically: the old file stays whole if anything fails."""
    with atomic_write(dest) as out:
        return download(client, file_id, out)


def run_files_check(args: argparse.Namespace, ctx: Context) -> int:
    """`files check`."""
    from finetune_kit.dataset import Dataset  # noqa: PLC0415 - loaded when the command runs

    client = ctx.make_client(args)
    with tempfile.TemporaryDirectory(prefix="finetune-kit-check-") as folder:
        path = Path(folder) / "content.jsonl"
        _download_to(client, args.file, path)
        prices = {args.model: args.price} if args.price is not None else None
        report = Dataset.from_jsonl(path).validate(
            model=args.model, method=args.method, n_epochs=epochs(args.n_epochs), prices=prices
        )
    report = report.model_copy(update={"source": args.file})
    print(report.to_json() if args.json else report)
    failed = not report.ok or (args.strict and report.warning_count > 0)
    return EXIT_FAILED if failed else EXIT_OK


def _destination(client: OpenAI, args: argparse.Namespace) -> Path:
    """Where `files download` writes: -o FILE, or the file's own name (in the folder -o names)."""
    given = Path(args.output) if args.output else None
    if given is not None and not given.is_dir():
        return given
    remote = client.files.retrieve(args.file).filename  # 404 -> one line, exit 3
    name = Path(remote.replace("\\", "/")).name  # a remote name never writes elsewhere
    if name in ("", ".", ".."):
        name = args.file
    dest = given / name if given is not None else Path(name)
    if dest.exists() or dest.is_symlink():  # named by the provider: never replace a file
        raise ConfigurationError(f"{dest} exists: pass -o {dest} to replace it, or -o another name")
    return dest


def run_files_download(args: argparse.Namespace, ctx: Context) -> int:
    """`files download`."""
    client = ctx.make_client(args)
    if args.output == "-":
        sys.stdout.flush()
        binary = getattr(sys.stdout, "buffer", None)
        if binary is None:  # a text-only stdout (a test's or a notebook's)
            text = io.BytesIO()
            download(client, args.file, text)
            sys.stdout.write(text.getvalue().decode("utf-8", errors="replace"))
        else:
            download(client, args.file, binary)
            binary.flush()
        return EXIT_OK
    dest = _destination(client, args)
    size = _download_to(client, args.file, dest)
    print(f"{args.file}: {size:,} bytes written to {dest}")
    return EXIT_OK


def run_files_delete(args: argparse.Namespace, ctx: Context) -> int:
    """`files delete`."""
    client = ctx.make_client(args)
    if not (args.yes or ctx.simulated):
        if not ctx.can_ask():
            print(f"Not deleted: run with --yes to delete {args.file} without being asked.")
            return EXIT_USAGE
        if not ctx.ask(f"Delete {args.file}? This cannot be undone. [y/N] "):
            print("Nothing was deleted.")
            return EXIT_OK
    deleted = client.files.delete(args.file)  # 404 -> one line, exit 3
    print(f"{args.file}: {'deleted' if deleted.deleted else 'not deleted'}")
    return EXIT_OK
