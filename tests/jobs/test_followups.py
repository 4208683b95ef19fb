"""Behaviour pinned after review: following events rides out faults, "auto" means left out."""

from __future__ import annotations

import pytest

from finetune_kit import FineTuneJob
from finetune_kit._core.spec import job_request
from finetune_kit.cli.main import bundled_dataset
from finetune_kit.testing import Simulator


def _job(sim: Simulator) -> FineTuneJob:
    client = sim.client(max_retries=0)
    return FineTuneJob.create(
        client, model="gpt-4o-mini-2024-07-18", training=bundled_dataset(), sleep=sim.clock.sleep
    )


@pytest.mark.parametrize(
    "fault",
    ["rate_limit_130", "server_error", "disconnect"],
)
def test_follow_rides_out_faults_and_loses_nothing(fault: str) -> None:
    """`events(follow=True)` waits out a 429 (even Retry-After 130 s), a 5xx or a drop, like wait()."""
    sim = Simulator()
    job = _job(sim)
    sim.clock.sleep(100)
    if fault == "rate_limit_130":
        sim.faults.rate_limit("jobs.events", retry_after=130, times=2, skip=1)
    elif fault == "server_error":
        sim.faults.server_error("jobs.events", times=3, skip=1)
    else:
        sim.faults.disconnect("jobs.events", times=3, skip=1)
    ids = [event.id for event in job.events(follow=True)]
    expected = [event["id"] for event in sim.jobs[job.id].events]
    assert ids == expected
    assert len(ids) == 109


def test_follow_gives_up_after_max_errors() -> None:
    """Past the policy's error budget (10 in a row), following raises the last error."""
    sim = Simulator()
    job = _job(sim)
    sim.faults.server_error("jobs.events", times=None)
    with pytest.raises(Exception, match="server had an error"):
        list(job.events(follow=True))
    assert sim.calls["jobs.events"] == 11


def test_auto_and_left_out_hyperparameters_are_the_same_run() -> None:
    """`{"n_epochs": "auto"}` and no n_epochs fingerprint alike: a rerun attaches, not duplicates."""
    common = {
        "model": "gpt-4o-mini-2024-07-18",
        "training_identity": "sha256:ab",
        "validation_identity": None,
        "method": None,
        "suffix": None,
        "seed": None,
        "metadata": None,
        "integrations": None,
        "training_type": None,
        "extra_body": None,
    }
    auto = job_request(**common, hyperparameters={"n_epochs": "auto"})  # type: ignore[arg-type]
    plain = job_request(**common, hyperparameters=None)  # type: ignore[arg-type]
    assert auto.fingerprint == plain.fingerprint
    assert auto.method == {"type": "supervised", "supervised": {"hyperparameters": {}}}
