"""Fixtures of the report tests."""

from __future__ import annotations

import pytest

from finetune_kit import Comparison
from tests.report._helpers import Trained, compare_base_and_tuned, train


@pytest.fixture(scope="module")
def trained() -> Trained:
    """One succeeded Elle job with train, valid and full-valid metrics and three checkpoints."""
    return train()


@pytest.fixture(scope="module")
def compared(trained: Trained) -> Comparison:
    """The base and the tuned model of `trained`, compared on two prompts."""
    return compare_base_and_tuned(trained)
