"""The simulator's files, uploads, Azure flavours and authentication."""

from __future__ import annotations

import hashlib
import json
import re

import openai
import pytest
from openai import OpenAI

from finetune_kit.testing import SimRequest, Simulator
from tests.testing._sim_helpers import (
    DURATION,
    ELLE,
    MODEL,
    RUN_START,
    T0,
    VALIDATING,
    Client,
    all_items,
    aw,
    first_page,
    ready_file,
    upload,
)

pytestmark = pytest.mark.anyio

AZURE_V1 = "https://res.openai.azure.com/openai/v1/"


# --- files ------------------------------------------------------------------------------------


async def test_file_upload_processed_after_two_seconds(api: Client, sim: Simulator) -> None:
    """A multipart upload is `uploaded`, then `processed` 2 s later; its fields are exact."""
    f = await aw(api.files.create(file=("elle.jsonl", ELLE), purpose="fine-tune"))
    assert f.id.startswith("file-")
    assert (f.object, f.bytes, f.created_at, f.filename, f.purpose) == (
        "file",
        len(ELLE),
        T0,
        "elle.jsonl",
        "fine-tune",
    )
    assert f.status == "uploaded"
    assert f.status_details is None
    sim.clock.sleep(1.9)
    assert (await aw(api.files.retrieve(f.id))).status == "uploaded"
    sim.clock.sleep(0.1)
    processed = await aw(api.files.retrieve(f.id))
    assert processed.status == "processed"
    assert processed.status_details is None
    content = await aw(api.files.content(f.id))
    assert content.content == ELLE


async def test_list_filters_delete_then_404(api: Client, sim: Simulator) -> None:
    """`files.list` filters by purpose and orders; a deleted file is gone from list, retrieve and content."""
    a = await aw(api.files.create(file=("a.jsonl", ELLE), purpose="fine-tune"))
    sim.clock.sleep(1)
    b = await aw(api.files.create(file=("b.jsonl", ELLE), purpose="batch"))
    sim.clock.sleep(1)
    c = await aw(api.files.create(file=("c.txt", b"notes"), purpose="assistants"))

    assert [f.id for f in await all_items(api.files.list())] == [c.id, b.id, a.id]
    assert [f.id for f in await all_items(api.files.list(order="asc"))] == [a.id, b.id, c.id]
    assert [f.id for f in await all_items(api.files.list(purpose="batch"))] == [b.id]
    page = await first_page(api.files.list(limit=2))
    assert [f.id for f in page.data] == [c.id, b.id]
    assert page.has_more is True
    after = await first_page(api.files.list(after=b.id))
    assert [f.id for f in after.data] == [a.id]

    deleted = await aw(api.files.delete(b.id))
    assert (deleted.id, deleted.deleted, deleted.object) == (b.id, True, "file")
    assert [f.id for f in await all_items(api.files.list())] == [c.id, a.id]
    with pytest.raises(openai.NotFoundError) as err:
        await aw(api.files.retrieve(b.id))
    assert err.value.code == "file_not_found"
    with pytest.raises(openai.NotFoundError):
        await aw(api.files.content(b.id))
    with pytest.raises(openai.NotFoundError):
        await aw(api.files.delete(b.id))


def test_list_same_second_keeps_creation_order(client: OpenAI) -> None:
    """Files uploaded within the same second list in creation order (asc) and reverse (desc)."""
    ids = [upload(client, filename=f"f{i}.jsonl").id for i in range(5)]
    assert [f.id for f in client.files.list(order="asc")] == ids
    assert [f.id for f in client.files.list()] == ids[::-1]


def test_non_jsonl_fine_tune_file_errors(sim: Simulator, client: OpenAI) -> None:
    """A fine-tune file that isn't `.jsonl` ends in status `error` with `status_details` saying so."""
    f = upload(client, filename="elle.txt")
    assert f.status == "uploaded"
    sim.clock.sleep(2)
    failed = client.files.retrieve(f.id)
    assert failed.status == "error"
    assert failed.status_details == (
        "Invalid file format for fine-tune: the file must be a .jsonl file."
    )


def test_invalid_json_line_errors(sim: Simulator, client: OpenAI) -> None:
    """A fine-tune file with a line that isn't JSON ends in `error`, naming the line."""
    lines = ELLE.splitlines()
    lines[2] = b'{"messages": [oops'
    f = upload(client, b"\n".join(lines), filename="broken.jsonl")
    sim.clock.sleep(2)
    failed = client.files.retrieve(f.id)
    assert failed.status == "error"
    assert failed.status_details == "Invalid file format. Line 3 is not valid JSON."
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    assert (err.value.code, err.value.param) == ("invalid_file", "training_file")


def test_other_purposes_are_not_checked(sim: Simulator, client: OpenAI) -> None:
    """Files for other purposes (e.g. `assistants`) are processed whatever their name and content."""
    f = client.files.create(file=("notes.txt", b"not json"), purpose="assistants")
    sim.clock.sleep(2)
    assert client.files.retrieve(f.id).status == "processed"


def test_bad_purpose_rejected(sim: Simulator) -> None:
    """An unknown purpose is a 400 on `purpose`."""
    raw = sim.handle(
        SimRequest.build(
            "POST",
            "/v1/files",
            "",
            {
                "authorization": "Bearer sk-test",
                "content-type": "multipart/form-data; boundary=XyZ",
            },
            b"--XyZ\r\n"
            b'Content-Disposition: form-data; name="purpose"\r\n\r\n'
            b"fine-tune-results\r\n"
            b"--XyZ\r\n"
            b'Content-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
            b"{}\r\n"
            b"--XyZ--\r\n",
        )
    )
    assert raw.status == 400
    assert raw.json()["error"]["param"] == "purpose"


# --- uploads ----------------------------------------------------------------------------------


def _parts(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_upload_parts_complete(sim: Simulator, client: OpenAI) -> None:
    """Create, add parts (out of order), complete with ordered part ids and md5: a processed file."""
    upload_ = client.uploads.create(
        bytes=len(ELLE), filename="elle.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    assert upload_.status == "pending"
    assert (upload_.bytes, upload_.filename, upload_.purpose) == (
        len(ELLE),
        "elle.jsonl",
        "fine-tune",
    )
    assert upload_.expires_at == T0 + 3600
    assert upload_.file is None
    chunks = _parts(ELLE, 1500)
    assert len(chunks) == 3
    parts = {i: client.uploads.parts.create(upload_.id, data=chunks[i]) for i in (2, 0, 1)}
    assert {p.upload_id for p in parts.values()} == {upload_.id}
    assert {p.object for p in parts.values()} == {"upload.part"}
    done = client.uploads.complete(
        upload_.id,
        part_ids=[parts[i].id for i in range(3)],
        md5=hashlib.md5(ELLE, usedforsecurity=False).hexdigest(),
    )
    assert done.status == "completed"
    assert done.file is not None
    assert (done.file.bytes, done.file.filename, done.file.purpose) == (
        len(ELLE),
        "elle.jsonl",
        "fine-tune",
    )
    assert done.file.status == "uploaded"
    sim.clock.sleep(2)
    assert client.files.retrieve(done.file.id).status == "processed"
    assert client.files.content(done.file.id).content == ELLE
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=done.file.id)
    assert job.status == "validating_files"


def test_upload_file_chunked_helper(sim: Simulator, client: OpenAI) -> None:
    """The SDK's `upload_file_chunked` helper works against the simulator."""
    done = client.uploads.upload_file_chunked(
        file=ELLE,
        mime_type="text/jsonl",
        purpose="fine-tune",
        filename="elle.jsonl",
        bytes=len(ELLE),
        part_size=1000,
    )
    assert done.status == "completed"
    assert done.file is not None
    assert client.files.content(done.file.id).content == ELLE
    assert sim.calls["uploads.parts"] == 5


def test_upload_wrong_byte_count(client: OpenAI) -> None:
    """Completing with parts that don't add up to the declared bytes is a 400; the upload stays open."""
    upload_ = client.uploads.create(
        bytes=len(ELLE) + 1, filename="elle.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload_.id, data=ELLE)
    with pytest.raises(openai.BadRequestError) as err:
        client.uploads.complete(upload_.id, part_ids=[part.id])
    assert err.value.param == "part_ids"
    extra = client.uploads.parts.create(upload_.id, data=b"\n")
    assert client.uploads.complete(upload_.id, part_ids=[part.id, extra.id]).status == "completed"


def test_upload_bad_md5(client: OpenAI) -> None:
    """Completing with an md5 that doesn't match the bytes is a 400 on `md5`."""
    upload_ = client.uploads.create(
        bytes=len(ELLE), filename="elle.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload_.id, data=ELLE)
    with pytest.raises(openai.BadRequestError) as err:
        client.uploads.complete(upload_.id, part_ids=[part.id], md5="0" * 32)
    assert err.value.param == "md5"
    assert client.files.list().data == []


def test_upload_unknown_part(client: OpenAI) -> None:
    """Completing with a part id the upload doesn't hold is a 400 on `part_ids`."""
    upload_ = client.uploads.create(
        bytes=len(ELLE), filename="elle.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    client.uploads.parts.create(upload_.id, data=ELLE)
    with pytest.raises(openai.BadRequestError) as err:
        client.uploads.complete(upload_.id, part_ids=["part_nope"])
    assert err.value.param == "part_ids"


def test_upload_cancel(client: OpenAI) -> None:
    """A cancelled upload takes no more parts and can't be completed or cancelled again."""
    upload_ = client.uploads.create(
        bytes=len(ELLE), filename="elle.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload_.id, data=ELLE)
    cancelled = client.uploads.cancel(upload_.id)
    assert cancelled.status == "cancelled"
    for call in (
        lambda: client.uploads.parts.create(upload_.id, data=ELLE),
        lambda: client.uploads.complete(upload_.id, part_ids=[part.id]),
        lambda: client.uploads.cancel(upload_.id),
    ):
        with pytest.raises(openai.BadRequestError) as err:
            call()
        assert err.value.code == "invalid_upload_state"


def test_upload_expires_after_an_hour(sim: Simulator, client: OpenAI) -> None:
    """An hour after creation an upload has expired: parts and complete are refused."""
    upload_ = client.uploads.create(
        bytes=len(ELLE), filename="elle.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload_.id, data=ELLE)
    sim.clock.sleep(3599)
    client.uploads.parts.create(upload_.id, data=b"")
    sim.clock.sleep(1)
    with pytest.raises(openai.BadRequestError) as err:
        client.uploads.parts.create(upload_.id, data=ELLE)
    assert err.value.code == "invalid_upload_state"
    assert "expired" in err.value.message
    with pytest.raises(openai.BadRequestError) as err2:
        client.uploads.complete(upload_.id, part_ids=[part.id])
    assert err2.value.code == "invalid_upload_state"


def test_upload_unknown_id(client: OpenAI) -> None:
    """Parts for an unknown upload are a 404."""
    with pytest.raises(openai.NotFoundError):
        client.uploads.parts.create("upload_nope", data=b"x")


def test_upload_create_validation(client: OpenAI) -> None:
    """An upload of 0 bytes, or over 8 GB, is a 400 on `bytes`."""
    for size in (0, 8 * 1024**3 + 1):
        with pytest.raises(openai.BadRequestError) as err:
            client.uploads.create(
                bytes=size, filename="elle.jsonl", mime_type="text/jsonl", purpose="fine-tune"
            )
        assert err.value.param == "bytes"


# --- Azure ------------------------------------------------------------------------------------


def test_azure_paths_and_api_version(sim: Simulator) -> None:
    """`/openai/...` paths need `?api-version=` (404 without it) and accept the `api-key` header."""

    def get(path: str, query: str, headers: dict[str, str]) -> int:
        return sim.handle(SimRequest.build("GET", path, query, headers, b"")).status

    key = {"api-key": "azure-key"}
    assert get("/openai/files", "api-version=2025-04-01-preview", key) == 200
    assert get("/openai/fine_tuning/jobs", "api-version=2025-04-01-preview", key) == 200
    assert get("/openai/files", "", key) == 404
    assert get("/openai/files", "api-version=2025-04-01-preview", {}) == 401
    assert get("/openai/v1/files", "", key) == 200  # the v1 surface takes no api-version
    assert get("/v1/files", "", key) == 401  # `api-key` is Azure's header, not OpenAI's


def test_azure_client_sends_api_version(sim: Simulator) -> None:
    """The Azure client's requests go to `/openai/...` paths with `api-version`, and succeed."""
    az = sim.azure_client(max_retries=0)
    assert az.files.list().data == []
    assert sim.log == [("GET", "files.list", 200)]


def test_azure_file_pending_while_processing(sim: Simulator) -> None:
    """Azure reports a processing file as `pending` (the lenient SDK client lets it through)."""
    az = sim.azure_client(max_retries=0)
    f = az.files.create(file=("elle.jsonl", ELLE), purpose="fine-tune")
    assert str(f.status) == "pending"
    assert str(az.files.retrieve(f.id).status) == "pending"
    sim.clock.sleep(2)
    assert az.files.retrieve(f.id).status == "processed"


def test_azure_job_lifecycle(sim: Simulator) -> None:
    """An Azure job is `pending` until it runs; its model is `<base>.ft-<32 hex>`; checkpoints `ftchkpt-`."""
    az = sim.azure_client(max_retries=0)
    training = ready_file(sim, az)
    job = az.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=training,
        extra_body={"trainingType": "GlobalStandard"},
    )
    assert str(job.status) == "pending"
    assert job.model_extra is not None
    assert job.model_extra["trainingType"] == "GlobalStandard"
    created = job.created_at
    for offset, status in (
        (VALIDATING, "pending"),
        (RUN_START - 1, "pending"),
        (RUN_START, "running"),
        (DURATION, "succeeded"),
    ):
        sim.clock.sleep(created + offset - sim.clock.now())
        got = az.fine_tuning.jobs.retrieve(job.id)
        assert str(got.status) == status, offset
    assert got.model_extra is not None
    assert got.model_extra["trainingType"] == "GlobalStandard"
    assert got.fine_tuned_model is not None
    assert re.fullmatch(r"gpt-4o-mini-2024-07-18\.ft-[0-9a-f]{32}", got.fine_tuned_model)
    assert got.trained_tokens == 7860
    ckpts = az.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in ckpts] == [100, 90, 80]
    for c in ckpts:
        assert re.fullmatch(r"ftchkpt-[0-9a-f]{32}", c.fine_tuned_model_checkpoint)


def test_azure_spelling_of_model() -> None:
    """Azure's dot-less `gpt-35-turbo-0125` resolves to the `gpt-3.5-turbo-0125` snapshot."""
    sim = Simulator(shutdown_dates={"gpt-3.5-turbo-0125": None})
    az = sim.azure_client(max_retries=0)
    training = ready_file(sim, az)
    job = az.fine_tuning.jobs.create(model="gpt-35-turbo-0125", training_file=training)
    assert job.model == "gpt-3.5-turbo-0125"


def test_azure_v1_surface(sim: Simulator) -> None:
    """A plain `OpenAI(base_url=".../openai/v1/")` speaks to the Azure flavour: pending, `.ft-` names."""
    v1 = sim.client(base_url=AZURE_V1, max_retries=0)
    f = v1.files.create(file=("elle.jsonl", ELLE), purpose="fine-tune")
    assert str(f.status) == "pending"
    sim.clock.sleep(2)
    job = v1.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    assert str(job.status) == "pending"
    sim.clock.sleep(DURATION)
    done = v1.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.fine_tuned_model is not None
    assert re.fullmatch(rf"{re.escape(MODEL)}\.ft-[0-9a-f]{{32}}", done.fine_tuned_model)


def test_azure_and_openai_share_state(sim: Simulator, client: OpenAI) -> None:
    """One simulator holds one store: a file uploaded through Azure is listed through OpenAI paths."""
    az = sim.azure_client(max_retries=0)
    f = az.files.create(file=("elle.jsonl", ELLE), purpose="fine-tune")
    assert [x.id for x in client.files.list()] == [f.id]
    assert client.files.retrieve(f.id).status == "uploaded"  # OpenAI's word for it


# --- auth -------------------------------------------------------------------------------------


def test_missing_authorization_is_401(sim: Simulator) -> None:
    """A request without `Authorization` (or with an empty bearer) is a 401 explaining Bearer auth."""
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
        response = sim.handle(SimRequest.build("GET", "/v1/fine_tuning/jobs", "", headers, b""))
        assert response.status == 401
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "Authorization: Bearer YOUR_KEY" in error["message"]
    ok = sim.handle(
        SimRequest.build("GET", "/v1/fine_tuning/jobs", "", {"Authorization": "Bearer k"}, b"")
    )
    assert ok.status == 200
    assert json.loads(ok.body) == {"object": "list", "data": [], "has_more": False}


def test_401_through_the_sdk(sim: Simulator) -> None:
    """The SDK raises `AuthenticationError` when the simulator refuses the key."""
    az = sim.azure_client(max_retries=0, api_key=" ")
    with pytest.raises(openai.AuthenticationError) as err:
        az.files.list()
    assert err.value.status_code == 401


def test_unknown_path_and_method(sim: Simulator) -> None:
    """An unknown path is a 404 `unknown_url`; a known path with the wrong method is a 405."""
    auth = {"Authorization": "Bearer k"}
    missing = sim.handle(SimRequest.build("GET", "/v1/nothing/here", "", auth, b""))
    assert missing.status == 404
    assert missing.json()["error"]["code"] == "unknown_url"
    wrong = sim.handle(SimRequest.build("PUT", "/v1/files", "", auth, b""))
    assert wrong.status == 405
