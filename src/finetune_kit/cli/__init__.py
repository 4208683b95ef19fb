"""The `finetune-kit` command line.

Added in 0.1.0.
"""

from finetune_kit.cli.main import main

__all__ = ["main"]
