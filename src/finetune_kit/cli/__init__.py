"""The `finetune-kit` command line."""

from finetune_kit.cli.main import main

__all__ = ["main"]
