"""A platform over a `DiskStore`: a new platform over the same folder finds what the last one
left (files, jobs with events, checkpoints and results, models, deletions, uploads), equal;
jobs it left unfinished are failed with a clear error; a damaged record is named, never a
traceback from deep inside."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import openai
import pytest

from finetune_kit.platform import DiskStore, StoreCorruptError
from finetune_kit.testing import Simulator, VirtualClock
from tests.testing._sim_helpers import ELLE, MODEL, T0

# With the default Timing, a job created at C: validating [C, C+30), queued [C+30, C+90),
# step k done at C+90+2k, 100 steps: done at C+290.


def _reopen(root: Path, now: float) -> Simulator:
    """A new simulator over `root`, its clock at `now` (a restarted server)."""
    return Simulator(store=DiskStore(root), clock=VirtualClock(now))


def _fields(record: Any) -> dict[str, Any]:
    """Every field of a record (a job's random generator by its state)."""
    out = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if "rng" in out:
        out["rng"] = out["rng"].getstate()
    return out


def _train(sim: Simulator) -> tuple[str, str]:
    client = sim.client(max_retries=0)
    f = client.files.create(file=("elle.jsonl", io.BytesIO(ELLE)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id, suffix="elle")
    return f.id, job.id


def test_restart_finds_files_jobs_checkpoints_results_and_models(tmp_path: Path) -> None:
    sim = Simulator(store=DiskStore(tmp_path))
    file_id, job_id = _train(sim)
    sim.clock.sleep(3600)
    client = sim.client(max_retries=0)
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.status == "succeeded"
    before: dict[str, Any] = {
        "files": client.files.list().model_dump(),
        "job": job.model_dump(),
        "events": client.fine_tuning.jobs.list_events(job_id, limit=200).model_dump(),
        "checkpoints": client.fine_tuning.jobs.checkpoints.list(job_id).model_dump(),
        "results": client.files.content(job.result_files[0]).content,
        "models": client.models.list().model_dump(),
    }

    again = _reopen(tmp_path, sim.clock.now())
    client2 = again.client(max_retries=0)
    after: dict[str, Any] = {
        "files": client2.files.list().model_dump(),
        "job": client2.fine_tuning.jobs.retrieve(job_id).model_dump(),
        "events": client2.fine_tuning.jobs.list_events(job_id, limit=200).model_dump(),
        "checkpoints": client2.fine_tuning.jobs.checkpoints.list(job_id).model_dump(),
        "results": client2.files.content(job.result_files[0]).content,
        "models": client2.models.list().model_dump(),
    }
    assert after == before
    assert client2.files.content(file_id).content == ELLE
    assert len(before["events"]["data"]) == 109
    assert [c["step_number"] for c in before["checkpoints"]["data"]] == [100, 90, 80]
    assert job.fine_tuned_model in [m["id"] for m in after["models"]["data"]]
    # The records themselves read back equal, field by field (the job's id generator too).
    for name in ("files", "jobs"):
        old, new = getattr(sim.store, name), getattr(again.store, name)
        assert list(new) == list(old)
        assert [_fields(r) for r in new.values()] == [_fields(r) for r in old.values()]
    # The engine's paths are under the root, kept relative to it.
    assert again.jobs[job_id].model_path == tmp_path / "jobs" / job_id / "model"
    assert again.jobs[job_id].checkpoint_paths == {
        step: tmp_path / "jobs" / job_id / f"checkpoint-{step}" for step in (80, 90, 100)
    }
    # The tuned model answers after the restart, as before.
    reply = client2.chat.completions.create(
        model=str(job.fine_tuned_model), messages=[{"role": "user", "content": "Hi"}]
    )
    assert reply.model == job.fine_tuned_model


def test_engines_get_real_paths_under_the_root(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    sim = Simulator(store=store)
    file_id, job_id = _train(sim)
    assert store.file_path(file_id) == tmp_path / "files" / file_id
    assert (tmp_path / "files" / file_id).read_bytes() == ELLE
    assert store.workdir(job_id) == tmp_path / "jobs" / job_id
    assert (tmp_path / "jobs" / job_id).is_dir()


def test_a_job_running_when_the_server_stopped_fails_after_restart(tmp_path: Path) -> None:
    sim = Simulator(store=DiskStore(tmp_path))
    _, running = _train(sim)
    sim.clock.sleep(100)  # step 5 of 100
    assert sim.client().fine_tuning.jobs.retrieve(running).status == "running"
    _, queued = _train(sim)  # created at T0+100: validating until T0+130

    again = _reopen(tmp_path, T0 + 500)
    client = again.client(max_retries=0)
    job = client.fine_tuning.jobs.retrieve(running)
    assert job.status == "failed"
    assert job.error is not None
    assert job.error.model_dump() == {
        "code": "server_stopped",
        "message": "The server stopped while this job was running; its checkpoints are kept: "
        "create a new job to train again.",
        "param": None,
    }
    assert job.finished_at == T0 + 500
    last = client.fine_tuning.jobs.list_events(running, limit=1).data[0]
    assert (last.level, last.created_at) == ("error", T0 + 500)
    assert last.message == (
        "The job failed: The server stopped while this job was running; its checkpoints are "
        "kept: create a new job to train again."
    )
    other = client.fine_tuning.jobs.retrieve(queued)
    assert other.status == "failed"
    assert other.error is not None
    assert other.error.message == (
        "The server stopped before this job started training: create a new job to train again."
    )
    # The failure is on disk: a third start finds it failed, unchanged (not failed again).
    third = _reopen(tmp_path, T0 + 900)
    assert _fields(third.jobs[running]) == _fields(again.jobs[running])


def test_deleting_a_model_and_a_file_persists(tmp_path: Path) -> None:
    sim = Simulator(store=DiskStore(tmp_path))
    file_id, job_id = _train(sim)
    sim.clock.sleep(3600)
    client = sim.client(max_retries=0)
    model = str(client.fine_tuning.jobs.retrieve(job_id).fine_tuned_model)
    assert client.models.delete(model).deleted
    assert client.files.delete(file_id).deleted

    client2 = _reopen(tmp_path, sim.clock.now()).client(max_retries=0)
    assert model not in [m.id for m in client2.models.list()]
    with pytest.raises(openai.NotFoundError):
        client2.models.retrieve(model)
    with pytest.raises(openai.NotFoundError):
        client2.files.retrieve(file_id)
    assert json.loads((tmp_path / "records" / "deleted_models.json").read_text()) == [model]


def test_new_ids_after_a_restart_never_reuse_stored_ones(tmp_path: Path) -> None:
    sim = Simulator(store=DiskStore(tmp_path))  # the same seed both times
    first, _ = _train(sim)
    client2 = _reopen(tmp_path, sim.clock.now()).client(max_retries=0)
    second = client2.files.create(file=("b.jsonl", io.BytesIO(b"other")), purpose="fine-tune")
    assert second.id != first
    assert client2.files.content(first).content == ELLE
    assert client2.files.content(second.id).content == b"other"


def test_an_upload_in_progress_survives_a_restart(tmp_path: Path) -> None:
    sim = Simulator(store=DiskStore(tmp_path))
    client = sim.client(max_retries=0)
    upload = client.uploads.create(
        bytes=len(ELLE), filename="elle.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload.id, data=ELLE)

    client2 = _reopen(tmp_path, sim.clock.now()).client(max_retries=0)
    done = client2.uploads.complete(upload.id, part_ids=[part.id])
    assert done.status == "completed"
    assert done.file is not None
    assert client2.files.content(done.file.id).content == ELLE


def test_a_corrupt_record_is_named_and_nothing_is_changed(tmp_path: Path) -> None:
    sim = Simulator(store=DiskStore(tmp_path))
    _, job_id = _train(sim)
    record = tmp_path / "records" / "jobs" / f"{job_id}.json"
    record.write_text('{"id": "ftjob-', encoding="utf-8")  # a partial write
    with pytest.raises(StoreCorruptError) as info:
        DiskStore(tmp_path)
    assert str(info.value) == (
        f"{record}: this platform record can't be read (line 1, column 8: Unterminated string "
        "starting at). Nothing was changed: fix or restore the file, or move it aside to open "
        "the store without it."
    )
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert record.read_text(encoding="utf-8") == '{"id": "ftjob-'


def test_a_record_missing_a_field_is_named(tmp_path: Path) -> None:
    sim = Simulator(store=DiskStore(tmp_path))
    _train(sim)
    files = tmp_path / "records" / "files.json"
    rows = json.loads(files.read_text(encoding="utf-8"))
    del rows[0]["filename"]
    files.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(StoreCorruptError, match=r"files\.json: this platform record can't be read"):
        DiskStore(tmp_path)


def test_an_empty_folder_is_an_empty_store(tmp_path: Path) -> None:
    store = DiskStore(tmp_path / "new")
    assert (dict(store.files), dict(store.jobs), store.deleted_models) == ({}, {}, set())
    Simulator(store=store).client().models.list()  # a request flushes
    assert sorted(p.name for p in (tmp_path / "new" / "records").iterdir()) == [
        "batches.json",
        "deleted_models.json",
        "files.json",
        "jobs",
        "jobs.json",
        "uploads.json",
    ]
