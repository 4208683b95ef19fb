"""`python -m finetune_kit`: the same as the `finetune-kit` command."""

from __future__ import annotations

import sys

from finetune_kit.cli import main

if __name__ == "__main__":
    sys.exit(main())
