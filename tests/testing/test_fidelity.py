"""Fidelity of the API simulator, through the real openai SDK (sync and async).

Every route's bodies are checked against the official OpenAPI schema (`tests/testing/schema.py`)
and parsed by the SDK in strict mode; then the behaviours code relies on: list order and cursors,
error envelopes and the SDK exceptions they become, retry headers and request ids.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import httpx2
import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
from openai.types import Batch, FileObject, Model
from openai.types.fine_tuning import FineTuningJob

from finetune_kit.azure import Deployment, deploy, deployment_url
from finetune_kit.testing import SimRequest, SimResponse, Simulator
from finetune_kit.testing.adapters import http_library
from finetune_kit.testing.simulator import _ROUTES
from tests.conftest import ELLE
from tests.testing.schema import (
    OPEN_ENUM_EXCEPTIONS,
    OPERATIONS,
    error_schema,
    problems,
    response_schema,
    spec,
    stream_chunk_schema,
)

pytestmark = pytest.mark.anyio

Mode = Literal["sync", "async"]
MODEL = "gpt-4o-mini-2024-07-18"
TRAINING = ELLE.read_bytes()
DEPLOYMENT = "elle-deployment"
AZURE_TARGET = Deployment("sub-1", "rg-ml", "contoso-aoai", DEPLOYMENT, sku="developer")
ARM_ROUTES = {"deployments.create", "deployments.retrieve", "deployments.delete"}
"""Azure's management API (deployments): served by the simulator, not in the OpenAI spec."""
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
JOB_STATUSES = [
    "validating_files",
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
]
ELLE_EVENTS = 109
"""Events of a job on the 10-example ELLE file: 2 at creation, validated, started, 100 steps
(10 auto epochs of 10 single-example batches), 3 checkpoints, model created, completed."""


# --- the harness -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the simulator answered, with its route name."""

    route: str
    request: SimRequest
    response: SimResponse

    def body(self) -> Any:
        """The response body: JSON when it says so, else text."""
        if self.response.headers.get("content-type", "").startswith("application/json"):
            return json.loads(self.response.body)
        return self.response.body.decode()

    def streamed(self) -> bool:
        """Whether the response is server-sent events (a streamed chat completion)."""
        return self.response.headers.get("content-type", "").startswith("text/event-stream")

    def events(self) -> list[Any]:
        """The JSON of each server-sent event, up to `data: [DONE]` (which must end the stream)."""
        blocks = self.response.body.decode().split("\n\n")
        assert blocks[-2:] == ["data: [DONE]", ""]
        assert all(b.startswith("data: ") and "\n" not in b for b in blocks[:-2])
        return [json.loads(b[len("data: ") :]) for b in blocks[:-2]]


class RecordingSimulator(Simulator):
    """A simulator that keeps every exchange it answers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exchanges: list[Exchange] = []

    def handle(self, request: SimRequest) -> SimResponse:
        response = super().handle(request)
        self.exchanges.append(Exchange(self.log[-1][1], request, response))
        return response


@dataclass(frozen=True, slots=True)
class Reply:
    """One SDK call: what went over the wire and what the SDK parsed from it."""

    status: int
    headers: Mapping[str, str]
    body: Any
    parsed: Any
    retries_taken: int


def _resource(client: object, path: str) -> Any:
    target: Any = client
    for name in path.split("."):
        target = getattr(target, name)
    return target


class Api:
    """The openai SDK, sync or async, behind one awaitable interface, so one test body serves both.

    `op` names an SDK method by its path on the client, e.g. `"fine_tuning.jobs.retrieve"`.
    Clients are strict (`_strict_response_validation=True`) unless a call says `strict=False`.
    """

    def __init__(self, mode: Mode, sim: RecordingSimulator, *, azure: bool = False) -> None:
        self.mode = mode
        self.sim = sim
        self.azure = azure
        self._clients: dict[bool, OpenAI | AsyncOpenAI] = {}

    def client(self, *, strict: bool = True) -> OpenAI | AsyncOpenAI:
        """The SDK client of this mode and flavour (made once per strictness)."""
        if strict not in self._clients:
            self._clients[strict] = self._make(strict=strict)
        return self._clients[strict]

    def _make(self, *, strict: bool) -> OpenAI | AsyncOpenAI:
        if not self.azure:
            if self.mode == "sync":
                return self.sim.client(_strict_response_validation=strict)
            return self.sim.async_client(_strict_response_validation=strict)
        if self.mode == "sync":
            client: AzureOpenAI = self.sim.azure_client(
                azure_deployment=DEPLOYMENT, _strict_response_validation=strict
            )
            return client
        module = importlib.import_module(http_library())
        return AsyncAzureOpenAI(
            api_key="azure-simulator-key",
            azure_endpoint="https://simulator.openai.azure.com",
            azure_deployment=DEPLOYMENT,
            api_version="2025-04-01-preview",
            http_client=module.AsyncClient(transport=self.sim.async_transport()),
            _strict_response_validation=strict,
        )

    async def close(self) -> None:
        """Close every client made."""
        for client in self._clients.values():
            if isinstance(client, AsyncOpenAI):
                await client.close()
            else:
                client.close()

    async def call(
        self, op: str, *args: Any, strict: bool = True, retries: int | None = None, **kwargs: Any
    ) -> Reply:
        """Call `op` through `.with_raw_response`, and parse it (SDK exceptions propagate)."""
        client = self.client(strict=strict)
        if retries is not None:
            client = client.with_options(max_retries=retries)
        resource, _, method = op.rpartition(".")
        raw = getattr(_resource(client, resource).with_raw_response, method)(*args, **kwargs)
        if self.mode == "async":
            raw = await raw
        http = raw.http_response
        json_body = http.headers.get("content-type", "").startswith("application/json")
        return Reply(
            status=http.status_code,
            headers=dict(http.headers),
            body=http.json() if json_body else http.text,
            parsed=raw.parse(),
            retries_taken=raw.retries_taken,
        )

    async def stream(self, op: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Every chunk of a streamed call (`stream=True`), through the SDK's own stream."""
        resource, _, method = op.rpartition(".")
        result = getattr(_resource(self.client(), resource), method)(*args, **kwargs)
        if self.mode == "sync":
            with result as chunks:
                return list(chunks)
        async with await result as achunks:
            return [chunk async for chunk in achunks]

    async def pages(self, op: str, *args: Any, **kwargs: Any) -> list[list[Any]]:
        """Every page of a list call, following the SDK's own cursor (`iter_pages`)."""
        resource, _, method = op.rpartition(".")
        first = getattr(_resource(self.client(), resource), method)(*args, **kwargs)
        if self.mode == "sync":
            return [list(page.data) for page in first.iter_pages()]
        page = await first
        return [list(p.data) async for p in page.iter_pages()]

    async def items(self, op: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Every item of a list call, by the SDK's auto-pagination (`for` / `async for`)."""
        resource, _, method = op.rpartition(".")
        paginator = getattr(_resource(self.client(), resource), method)(*args, **kwargs)
        if self.mode == "sync":
            return list(paginator)
        return [item async for item in paginator]

    def record_sleeps(self, monkeypatch: pytest.MonkeyPatch) -> list[float]:
        """Make the SDK's retry sleeps record their length instead of sleeping."""
        slept: list[float] = []
        if self.mode == "sync":
            monkeypatch.setattr("openai._base_client.time.sleep", slept.append)
        else:

            async def sleep(seconds: float) -> None:
                slept.append(seconds)

            monkeypatch.setattr("openai._base_client.anyio.sleep", sleep)
        return slept


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    harness = Api(cast("Mode", request.param), RecordingSimulator())
    yield harness
    await harness.close()


async def upload(
    api: Api, content: bytes = TRAINING, *, filename: str = "elle.jsonl", purpose: str = "fine-tune"
) -> str:
    """Upload a file; its id."""
    reply = await api.call("files.create", file=(filename, content), purpose=purpose)
    return str(reply.parsed.id)


async def ready_file(api: Api) -> str:
    """Upload the ELLE training file and let it be processed; its id."""
    file_id = await upload(api)
    api.sim.clock.sleep(2)
    return file_id


async def finished_job(api: Api, file_id: str, **params: Any) -> FineTuningJob:
    """Create a job on `file_id` and let it succeed."""
    reply = await api.call("fine_tuning.jobs.create", model=MODEL, training_file=file_id, **params)
    api.sim.clock.sleep(1000)
    done = await api.call("fine_tuning.jobs.retrieve", reply.parsed.id)
    job = cast("FineTuningJob", done.parsed)
    assert job.status == "succeeded"
    return job


# --- the walk: every route, against the spec ---------------------------------------------------


BATCH_LINE = json.dumps(
    {
        "custom_id": "q1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about Helium"}]},
    }
).encode()
HELIUM = [{"role": "user", "content": "Tell me about Helium"}]


async def walk(api: Api) -> None:
    """Call every route the way an application would, successes and errors alike."""
    training, validation = await _walk_files_and_uploads(api)
    tuned = await _walk_jobs(api, training, validation)
    await _walk_models_and_chat(api, tuned)
    await _walk_batches(api)
    with pytest.raises(openai.AuthenticationError):
        await api.call("models.list", extra_headers={"Authorization": "Basic bm9wZQ=="})
    api.sim.faults.rate_limit("jobs.list", retry_after=130)
    with pytest.raises(openai.RateLimitError):
        await api.call("fine_tuning.jobs.list")
    await _walk_azure(Api(api.mode, api.sim, azure=True))


async def _walk_files_and_uploads(api: Api) -> tuple[str, str]:
    """Files and uploads; the ids of a training file and of an uploaded validation file."""
    training = await upload(api)
    await api.call("files.retrieve", training)
    api.sim.faults.file_not_ready(times=1)
    with pytest.raises(openai.BadRequestError):  # file_not_ready
        await api.call("fine_tuning.jobs.create", model=MODEL, training_file=training)
    api.sim.clock.sleep(2)
    await api.call("files.list")
    await api.call("files.list", purpose="fine-tune", order="asc", limit=1)
    await api.call("files.content", training)
    with pytest.raises(openai.NotFoundError):
        await api.call("files.retrieve", "file-missing")

    half = len(TRAINING) // 2
    up = (
        await api.call(
            "uploads.create",
            bytes=len(TRAINING),
            filename="elle-upload.jsonl",
            mime_type="text/jsonl",
            purpose="fine-tune",
        )
    ).parsed
    first = (await api.call("uploads.parts.create", up.id, data=TRAINING[:half])).parsed
    second = (await api.call("uploads.parts.create", up.id, data=TRAINING[half:])).parsed
    completed = await api.call("uploads.complete", up.id, part_ids=[first.id, second.id])
    spare = (
        await api.call(
            "uploads.create", bytes=10, filename="x.jsonl", mime_type="text/jsonl", purpose="batch"
        )
    ).parsed
    await api.call("uploads.cancel", spare.id)
    with pytest.raises(openai.BadRequestError):  # invalid_upload_state
        await api.call("uploads.cancel", spare.id)
    return training, str(completed.parsed.file.id)


async def _walk_jobs(api: Api, training: str, validation: str) -> str:
    """A job through pause, resume and success, another cancelled; the tuned model's name."""
    sim = api.sim
    created = await api.call(
        "fine_tuning.jobs.create",
        model="gpt-4o-mini",
        training_file=training,
        suffix="elle",
        metadata={"team": "docs"},
    )
    job_id = created.parsed.id
    await api.call("fine_tuning.jobs.retrieve", job_id)
    sim.clock.sleep(100)  # validating 30 s, queued 60 s, then 5 steps
    await api.call("fine_tuning.jobs.retrieve", job_id)
    await api.call("fine_tuning.jobs.pause", job_id, strict=False)  # `paused`: see the exceptions
    await api.call("fine_tuning.jobs.retrieve", job_id, strict=False)
    await api.call("fine_tuning.jobs.resume", job_id)
    sim.clock.sleep(1000)
    done = (await api.call("fine_tuning.jobs.retrieve", job_id)).parsed
    await api.call("fine_tuning.jobs.list")
    await api.call("fine_tuning.jobs.list", metadata={"team": "docs"}, limit=1)
    await api.call("fine_tuning.jobs.list_events", job_id)
    await api.call("fine_tuning.jobs.list_events", job_id, limit=5)
    await api.call("fine_tuning.jobs.checkpoints.list", job_id)
    await api.call("files.content", done.result_files[0])

    other = await api.call(
        "fine_tuning.jobs.create",
        model=MODEL,
        training_file=training,
        validation_file=validation,
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"n_epochs": 3, "batch_size": 2, "learning_rate_multiplier": 0.5}
            },
        },
        seed=7,
        integrations=[{"type": "wandb", "wandb": {"project": "elle"}}],
    )
    sim.clock.sleep(100)  # running: 5 of 15 steps done
    await api.call("fine_tuning.jobs.retrieve", other.parsed.id)
    await api.call("fine_tuning.jobs.cancel", other.parsed.id)
    with pytest.raises(openai.BadRequestError):  # invalid_job_state
        await api.call("fine_tuning.jobs.cancel", other.parsed.id)
    with pytest.raises(openai.NotFoundError):
        await api.call("fine_tuning.jobs.retrieve", "ftjob-missing")
    return str(done.fine_tuned_model)


async def _walk_models_and_chat(api: Api, tuned: str) -> None:
    """Models listed, retrieved and deleted; chat with the tuned and a base model."""
    await api.call("models.list")
    await api.call("models.retrieve", tuned)
    await api.call("models.retrieve", MODEL)
    await api.call("chat.completions.create", model=tuned, messages=HELIUM)
    await api.call("chat.completions.create", model=MODEL, messages=HELIUM, max_tokens=5)
    await api.call("chat.completions.create", model=MODEL, messages=HELIUM, n=2)
    await api.stream(
        "chat.completions.create",
        model=tuned,
        messages=HELIUM,
        n=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    with pytest.raises(openai.PermissionDeniedError):
        await api.call("models.delete", MODEL)
    await api.call("models.delete", tuned)
    with pytest.raises(openai.NotFoundError):
        await api.call("models.retrieve", tuned)


async def _walk_batches(api: Api) -> None:
    """A batch run to completion, another cancelled; then its input file deleted."""
    batch_input = await upload(api, BATCH_LINE, filename="batch.jsonl", purpose="batch")
    api.sim.clock.sleep(2)
    batch = await api.call(
        "batches.create",
        input_file_id=batch_input,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"run": "1"},
    )
    await api.call("batches.list")
    api.sim.clock.sleep(200)
    await api.call("batches.retrieve", batch.parsed.id)
    doomed = await api.call(
        "batches.create",
        input_file_id=batch_input,
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    await api.call("batches.cancel", doomed.parsed.id)
    await api.call("batches.list", limit=1)
    await api.call("files.delete", batch_input)


async def _walk_azure(azure: Api) -> None:
    """The Azure flavour: `pending` statuses, and chat through a deployment."""
    sim = azure.sim
    try:
        file_id = (
            await azure.call(
                "files.create", file=("az.jsonl", TRAINING), purpose="fine-tune", strict=False
            )
        ).parsed.id
        sim.clock.sleep(2)
        await azure.call("files.retrieve", file_id)
        job = await azure.call(
            "fine_tuning.jobs.create",
            model=MODEL,
            training_file=file_id,
            extra_body={"trainingType": "GlobalStandard"},
            strict=False,
        )
        sim.clock.sleep(1000)
        done = (await azure.call("fine_tuning.jobs.retrieve", job.parsed.id)).parsed
        with httpx2.Client(transport=sim.transport("httpx2")) as management:
            deploy(
                done.fine_tuned_model,
                AZURE_TARGET,
                token="arm-token",
                http_client=management,
                sleep=sim.clock.sleep,
            )
            await azure.call("chat.completions.create", model=DEPLOYMENT, messages=HELIUM)
            gone = management.delete(
                deployment_url(AZURE_TARGET),
                params={"api-version": "2024-10-21"},
                headers={"authorization": "Bearer arm-token"},
            )
            assert gone.status_code == 200
    finally:
        await azure.close()


async def test_the_walk_calls_every_route(api: Api) -> None:
    """The walk reaches every route the simulator serves, and the spec has each operation."""
    await walk(api)
    served = {name for _, _, name, _ in _ROUTES}
    assert set(api.sim.calls) == served
    assert set(OPERATIONS) == served - ARM_ROUTES
    assert "/openai/deployments/elle-deployment/chat/completions" in {
        e.request.path for e in api.sim.exchanges
    }
    statuses = {e.response.status for e in api.sim.exchanges}
    assert statuses == {200, 201, 400, 401, 403, 404, 429}


@pytest.mark.parametrize("route", sorted(OPERATIONS))
async def test_route_bodies_match_the_spec(api: Api, route: str) -> None:
    """Every body a route answers in the walk matches the spec: its 200 schema, or ErrorResponse."""
    await walk(api)
    exchanges = [e for e in api.sim.exchanges if e.route == route]
    assert any(e.response.status == 200 for e in exchanges)
    found = []
    for exchange in exchanges:
        status = exchange.response.status
        if exchange.streamed():
            bodies, schema = exchange.events(), stream_chunk_schema()
        else:
            bodies = [exchange.body()]
            schema = response_schema(route) if status == 200 else error_schema()
        found += [
            f"{exchange.request.method} {exchange.request.path} -> {status}: {problem}"
            for body in bodies
            for problem in problems(body, schema)
        ]
    assert found == []
    assert sum(e.streamed() for e in exchanges) == (1 if route == "chat.create" else 0)


# --- open enums: the documented exceptions -----------------------------------------------------


def excused(body: Any, route: str) -> list[str]:
    """The schema problems of a 200 body that the open-enum exceptions excuse (and only those)."""
    schema = response_schema(route)
    return sorted(set(problems(body, schema, excuse=False)) - set(problems(body, schema)))


def _status_enum_problem(value: str, where: str = "status") -> list[str]:
    return [f"{where}: {value!r} is not one of {JOB_STATUSES!r}"]


async def test_paused_fails_strict_validation_and_passes_lenient_parsing(api: Api) -> None:
    """`paused` is missing from the SDK's and the spec's job status enums: strict parsing rejects it."""
    # OPENAI-FACTS.md finding 4: the spec's own pause example answers "paused", yet neither the
    # spec's `FineTuningJob.status` enum nor the SDK's Literal has it; lenient parsing keeps it.
    file_id = await ready_file(api)
    job_id = (
        await api.call("fine_tuning.jobs.create", model=MODEL, training_file=file_id)
    ).parsed.id
    api.sim.clock.sleep(100)
    with pytest.raises(openai.APIResponseValidationError):
        await api.call("fine_tuning.jobs.pause", job_id)
    assert api.sim.calls["jobs.pause"] == 1
    assert api.sim.exchanges[-1].body()["status"] == "paused"

    paused = await api.call("fine_tuning.jobs.retrieve", job_id, strict=False)
    assert paused.parsed.status == "paused"
    assert excused(paused.body, "jobs.retrieve") == _status_enum_problem("paused")
    with pytest.raises(openai.APIResponseValidationError):
        await api.call("fine_tuning.jobs.retrieve", job_id)

    listed = await api.call("fine_tuning.jobs.list", strict=False)
    assert [j.status for j in listed.parsed.data] == ["paused"]
    assert excused(listed.body, "jobs.list") == _status_enum_problem("paused", "data/0/status")

    resumed = await api.call("fine_tuning.jobs.resume", job_id)
    assert resumed.parsed.status == "queued"


async def test_azure_pending_fails_strict_validation_and_passes_lenient_parsing(api: Api) -> None:
    """Azure's `pending` (jobs and files) is in neither enum: strict parsing rejects it, lenient keeps it."""
    # OPENAI-FACTS.md section 15: Azure reports new files and jobs as `pending`.
    azure = Api(api.mode, api.sim, azure=True)
    try:
        with pytest.raises(openai.APIResponseValidationError):
            await azure.call("files.create", file=("az.jsonl", TRAINING), purpose="fine-tune")
        file_id = next(iter(api.sim.files))
        pending_file = await azure.call("files.retrieve", file_id, strict=False)
        assert pending_file.parsed.status == "pending"
        assert excused(pending_file.body, "files.retrieve") == [
            "status: 'pending' is not one of ['uploaded', 'processed', 'error']"
        ]

        api.sim.clock.sleep(2)
        assert (await azure.call("files.retrieve", file_id)).parsed.status == "processed"
        with pytest.raises(openai.APIResponseValidationError):
            await azure.call("fine_tuning.jobs.create", model=MODEL, training_file=file_id)
        job_id = next(iter(api.sim.jobs))
        pending_job = await azure.call("fine_tuning.jobs.retrieve", job_id, strict=False)
        assert pending_job.parsed.status == "pending"
        assert excused(pending_job.body, "jobs.retrieve") == _status_enum_problem("pending")
    finally:
        await azure.close()


def test_the_exceptions_name_only_paused_and_pending() -> None:
    """The schema checks excuse exactly `paused` and `pending`, and only on status enums."""
    exceptions = OPEN_ENUM_EXCEPTIONS
    assert exceptions == {
        ("FineTuningJob", "status"): frozenset({"paused", "pending"}),
        ("OpenAIFile", "status"): frozenset({"pending"}),
    }
    schemas = spec()["components"]["schemas"]
    assert schemas["FineTuningJob"]["properties"]["status"]["enum"] == JOB_STATUSES
    assert schemas["OpenAIFile"]["properties"]["status"]["enum"] == [
        "uploaded",
        "processed",
        "error",
    ]


# --- lists: order and cursors ------------------------------------------------------------------


async def test_events_are_newest_first_and_after_pages_toward_older(api: Api) -> None:
    """Events come newest first, 20 by default; `after=<event id>` continues with older ones."""
    job = await finished_job(api, await ready_file(api))
    everything = await api.items("fine_tuning.jobs.list_events", job.id, limit=50)
    assert len(everything) == ELLE_EVENTS
    assert len({e.id for e in everything}) == ELLE_EVENTS
    assert [e.message for e in everything[:2]] == [
        "The job has successfully completed",
        f"New fine-tuned model created: {job.fine_tuned_model}",
    ]
    assert [e.message for e in everything[-2:]] == [
        f"Validating training file: {job.training_file}",
        "Created fine-tuning job",
    ]
    times = [e.created_at for e in everything]
    assert times == sorted(times, reverse=True)

    first = await api.call("fine_tuning.jobs.list_events", job.id)
    assert [e.id for e in first.parsed.data] == [e.id for e in everything[:20]]
    assert first.body["has_more"] is True
    older = await api.call(
        "fine_tuning.jobs.list_events", job.id, after=first.parsed.data[-1].id, limit=5
    )
    assert [e.id for e in older.parsed.data] == [e.id for e in everything[20:25]]
    assert older.body["has_more"] is True
    assert api.sim.exchanges[-1].request.query == (("after", everything[19].id), ("limit", "5"))

    last = await api.call("fine_tuning.jobs.list_events", job.id, after=everything[-3].id)
    assert [e.id for e in last.parsed.data] == [e.id for e in everything[-2:]]
    assert last.body["has_more"] is False
    exact = await api.call("fine_tuning.jobs.list_events", job.id, after=everything[-4].id, limit=3)
    assert len(exact.parsed.data) == 3
    assert exact.body["has_more"] is False

    pages = await api.pages("fine_tuning.jobs.list_events", job.id, limit=50)
    assert [len(p) for p in pages] == [50, 50, 9]
    assert [e.id for p in pages for e in p] == [e.id for e in everything]


async def test_checkpoints_are_newest_first_with_cursors(api: Api) -> None:
    """Checkpoints (the last 3 epochs) come newest first, with `limit`, `after` and first/last ids."""
    job = await finished_job(api, await ready_file(api))
    page = await api.call("fine_tuning.jobs.checkpoints.list", job.id)
    steps = [c.step_number for c in page.parsed.data]
    assert steps == [100, 90, 80]
    assert [c.fine_tuned_model_checkpoint for c in page.parsed.data] == [
        f"{job.fine_tuned_model}:ckpt-step-{n}" for n in steps
    ]
    ids = [c.id for c in page.parsed.data]
    assert page.body["has_more"] is False
    assert (page.body["first_id"], page.body["last_id"]) == (ids[0], ids[-1])

    two = await api.call("fine_tuning.jobs.checkpoints.list", job.id, limit=2)
    assert [c.id for c in two.parsed.data] == ids[:2]
    assert two.body["has_more"] is True
    rest = await api.call("fine_tuning.jobs.checkpoints.list", job.id, limit=2, after=ids[1])
    assert [c.id for c in rest.parsed.data] == ids[2:]
    assert rest.body["has_more"] is False
    pages = await api.pages("fine_tuning.jobs.checkpoints.list", job.id, limit=1)
    assert [[c.id for c in p] for p in pages] == [[i] for i in ids]


async def test_jobs_list_newest_first_with_metadata_filter_and_cursor(api: Api) -> None:
    """Jobs list newest first; `metadata={"k": "v"}` filters; `after` and `limit` page."""
    file_id = await ready_file(api)
    ids = []
    for team in ("a", "b", "a"):
        reply = await api.call(
            "fine_tuning.jobs.create",
            model=MODEL,
            training_file=file_id,
            metadata={"team": team},
        )
        ids.append(reply.parsed.id)
        api.sim.clock.sleep(1)
    newest_first = ids[::-1]

    listed = await api.call("fine_tuning.jobs.list")
    assert [j.id for j in listed.parsed.data] == newest_first
    assert listed.body["has_more"] is False

    team_a = await api.call("fine_tuning.jobs.list", metadata={"team": "a"})
    assert [j.id for j in team_a.parsed.data] == [ids[2], ids[0]]
    assert api.sim.exchanges[-1].request.query == (("metadata[team]", "a"),)
    none = await api.call("fine_tuning.jobs.list", metadata={"team": "c"})
    assert none.parsed.data == []
    assert none.body["has_more"] is False

    first = await api.call("fine_tuning.jobs.list", limit=2)
    assert [j.id for j in first.parsed.data] == newest_first[:2]
    assert first.body["has_more"] is True
    second = await api.call("fine_tuning.jobs.list", limit=2, after=newest_first[1])
    assert [j.id for j in second.parsed.data] == newest_first[2:]
    assert second.body["has_more"] is False
    pages = await api.pages("fine_tuning.jobs.list", limit=2)
    assert [[j.id for j in p] for p in pages] == [newest_first[:2], newest_first[2:]]
    assert [j.id for j in await api.items("fine_tuning.jobs.list", limit=1)] == newest_first


async def test_jobs_created_in_the_same_second_still_list_newest_first(api: Api) -> None:
    """Jobs created within one second list in reverse creation order, not by their random ids."""
    file_id = await ready_file(api)
    ids = [
        (await api.call("fine_tuning.jobs.create", model=MODEL, training_file=file_id)).parsed.id
        for _ in range(4)
    ]
    listed = await api.call("fine_tuning.jobs.list")
    assert [j.id for j in listed.parsed.data] == ids[::-1]


async def test_jobs_list_default_limit_is_20(api: Api) -> None:
    """Without `limit`, jobs list 20 at a time."""
    file_id = await ready_file(api)
    for _ in range(22):
        await api.call("fine_tuning.jobs.create", model=MODEL, training_file=file_id)
        api.sim.clock.sleep(1)
    first = await api.call("fine_tuning.jobs.list")
    assert len(first.parsed.data) == 20
    assert first.body["has_more"] is True
    assert [len(p) for p in await api.pages("fine_tuning.jobs.list")] == [20, 2]


async def test_files_list_purpose_order_after_and_limit(api: Api) -> None:
    """Files list newest first by default; `purpose`, `order`, `after` and `limit` work."""
    oldest = await upload(api, filename="a.jsonl")
    api.sim.clock.sleep(1)
    middle = await upload(api, BATCH_LINE, filename="b.jsonl", purpose="batch")
    api.sim.clock.sleep(1)
    newest = await upload(api, filename="c.jsonl")

    listed = await api.call("files.list")
    assert [f.id for f in listed.parsed.data] == [newest, middle, oldest]
    assert listed.body["has_more"] is False
    assert (listed.body["first_id"], listed.body["last_id"]) == (newest, oldest)
    ascending = await api.call("files.list", order="asc")
    assert [f.id for f in ascending.parsed.data] == [oldest, middle, newest]
    tuning = await api.call("files.list", purpose="fine-tune")
    assert [f.id for f in tuning.parsed.data] == [newest, oldest]
    batch = await api.call("files.list", purpose="batch")
    assert [f.id for f in batch.parsed.data] == [middle]

    one = await api.call("files.list", limit=1)
    assert [f.id for f in one.parsed.data] == [newest]
    assert one.body["has_more"] is True
    after = await api.call("files.list", limit=1, after=newest)
    assert [f.id for f in after.parsed.data] == [middle]
    assert after.body["has_more"] is True
    after_asc = await api.call("files.list", order="asc", after=oldest)
    assert [f.id for f in after_asc.parsed.data] == [middle, newest]
    assert after_asc.body["has_more"] is False
    pages = await api.pages("files.list", limit=2)
    assert [[f.id for f in p] for p in pages] == [[newest, middle], [oldest]]


async def test_cancelling_a_batch_answers_cancelling_then_cancelled(api: Api) -> None:
    """`batches.cancel` answers `cancelling` (with `cancelling_at`), and the batch is `cancelled` later."""
    # The spec's cancel operation: "The batch will be in status `cancelling` for up to 10 minutes,
    # before changing to `cancelled`"; its example answers `cancelling` with `cancelling_at` set.
    batch_input = await upload(api, BATCH_LINE, filename="batch.jsonl", purpose="batch")
    api.sim.clock.sleep(2)
    batch = (
        await api.call(
            "batches.create",
            input_file_id=batch_input,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
    ).parsed
    api.sim.clock.sleep(90)  # in progress since 60 s
    now = int(api.sim.now())
    cancelling = (await api.call("batches.cancel", batch.id)).parsed
    assert (cancelling.status, cancelling.cancelling_at) == ("cancelling", now)
    assert cancelling.in_progress_at == batch.created_at + 60
    assert cancelling.cancelled_at is None
    api.sim.clock.sleep(600)
    cancelled = (await api.call("batches.retrieve", batch.id)).parsed
    assert cancelled.status == "cancelled"
    assert cancelled.cancelling_at == now
    assert cancelled.cancelled_at is not None
    assert now <= cancelled.cancelled_at <= now + 600


# --- errors ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorCase:
    """A call that fails, and how the API and the SDK describe the failure."""

    name: str
    provoke: Callable[[Api], Awaitable[Reply]]
    exception: type[openai.APIStatusError]
    status: int
    type: str
    param: str | None
    code: str | None
    message: str


async def _file_not_ready(api: Api) -> Reply:
    api.sim.faults.file_not_ready()
    file_id = await upload(api)
    return await api.call("fine_tuning.jobs.create", model=MODEL, training_file=file_id)


async def _model_not_available(api: Api) -> Reply:
    file_id = await ready_file(api)
    return await api.call("fine_tuning.jobs.create", model="gpt-6-luna", training_file=file_id)


async def _shut_out(api: Api) -> Reply:
    api.sim.faults.permission_denied()
    return await _model_not_available(api)


async def _rate_limited(api: Api) -> Reply:
    api.sim.faults.rate_limit("models.list", retry_after=130)
    return await api.call("models.list")


ERROR_CASES = [
    ErrorCase(
        "400 file not ready",
        _file_not_ready,
        openai.BadRequestError,
        400,
        "invalid_request_error",
        "training_file",
        "file_not_ready",
        "File {id} is not ready: it is still being processed. Try again when its status is "
        "'processed'.",
    ),
    ErrorCase(
        "400 model",
        _model_not_available,
        openai.BadRequestError,
        400,
        "invalid_request_error",
        "model",
        "model_not_available",
        "Model gpt-6-luna is not available for fine-tuning or does not exist.",
    ),
    ErrorCase(
        "401",
        lambda api: api.call("models.list", extra_headers={"Authorization": "Basic bm9wZQ=="}),
        openai.AuthenticationError,
        401,
        "invalid_request_error",
        None,
        "missing_api_key",
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    ),
    ErrorCase(
        "403 delete a base model",
        lambda api: api.call("models.delete", MODEL),
        openai.PermissionDeniedError,
        403,
        "invalid_request_error",
        None,
        "insufficient_permissions",
        "You have insufficient permissions for this operation.",
    ),
    ErrorCase(
        "403 shut out of fine-tuning",
        _shut_out,
        openai.PermissionDeniedError,
        403,
        "invalid_request_error",
        None,
        "permission_denied",
        "You do not have access to fine-tuning. Self-serve fine-tuning is no longer available "
        "to this organization.",
    ),
    ErrorCase(
        "404 file",
        lambda api: api.call("files.retrieve", "file-missing"),
        openai.NotFoundError,
        404,
        "invalid_request_error",
        "id",
        "file_not_found",
        "No such File object: file-missing",
    ),
    ErrorCase(
        "404 model",
        lambda api: api.call("models.retrieve", "ft:gpt-4o-mini-2024-07-18:acme::nope"),
        openai.NotFoundError,
        404,
        "invalid_request_error",
        "model",
        "model_not_found",
        "The model 'ft:gpt-4o-mini-2024-07-18:acme::nope' does not exist",
    ),
    ErrorCase(
        "429",
        _rate_limited,
        openai.RateLimitError,
        429,
        "requests",
        None,
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
    ),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.name)
async def test_errors_have_the_api_envelope_and_map_to_sdk_exceptions(
    api: Api, case: ErrorCase
) -> None:
    """An error body is the API's `{"error": {...}}` envelope and becomes the right SDK exception."""
    with pytest.raises(case.exception) as caught:
        await case.provoke(api)
    error = caught.value
    body = error.response.json()
    message = case.message.format(id=next(iter(api.sim.files), ""))
    assert body == {
        "error": {"message": message, "type": case.type, "param": case.param, "code": case.code}
    }
    assert problems(body, error_schema()) == []
    assert error.status_code == case.status
    assert (error.code, error.param, error.type) == (case.code, case.param, case.type)
    # openai 3.x says "Error code: N - <message>"; 2.x puts the whole body there: both carry it.
    assert error.message.startswith(f"Error code: {case.status} - ")
    assert message in error.message
    assert error.body == body["error"]
    assert error.request_id is not None
    assert REQUEST_ID.match(error.request_id)
    assert error.response.headers["content-type"] == "application/json"


async def test_unknown_paths_and_methods_answer_the_envelope() -> None:
    """Unknown URLs (404) and wrong methods (405) answer the error envelope too."""
    sim = Simulator()
    auth = {"Authorization": "Bearer sk-test"}
    unknown = sim.handle(SimRequest.build("GET", "/v1/fine_tuning/nope", "", auth, b""))
    assert (unknown.status, unknown.json()) == (
        404,
        {
            "error": {
                "message": "Invalid URL (GET /fine_tuning/nope)",
                "type": "invalid_request_error",
                "param": None,
                "code": "unknown_url",
            }
        },
    )
    wrong = sim.handle(SimRequest.build("PUT", "/v1/fine_tuning/jobs", "", auth, b""))
    assert wrong.status == 405
    assert wrong.json()["error"]["message"] == "Method PUT not allowed for /fine_tuning/jobs"
    for response in (unknown, wrong):
        assert problems(response.json(), error_schema()) == []
        assert REQUEST_ID.match(response.headers.get("x-request-id", ""))


# --- retries and request ids -------------------------------------------------------------------


async def test_retry_after_over_120_seconds_is_not_retried(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 with `Retry-After: 130` is raised after exactly one call: the SDK refuses to wait."""
    slept = api.record_sleeps(monkeypatch)
    job_id = await _a_job(api)
    api.sim.faults.rate_limit("jobs.retrieve", retry_after=130, times=None)
    with pytest.raises(openai.RateLimitError) as caught:
        await api.call("fine_tuning.jobs.retrieve", job_id)
    assert api.sim.calls["jobs.retrieve"] == 1
    assert slept == []
    assert caught.value.response.headers["retry-after"] == "130"


async def test_short_retry_after_is_honoured_for_every_retry(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 with `Retry-After: 1` is retried after exactly 1 s, up to `max_retries`."""
    slept = api.record_sleeps(monkeypatch)
    job_id = await _a_job(api)
    api.sim.faults.rate_limit("jobs.retrieve", retry_after=1, times=2)
    reply = await api.call("fine_tuning.jobs.retrieve", job_id, retries=2)
    assert reply.parsed.id == job_id
    assert reply.retries_taken == 2
    assert api.sim.calls["jobs.retrieve"] == 3
    assert slept == [1.0, 1.0]
    assert [r for _, r, _ in api.sim.log[-3:]] == ["jobs.retrieve"] * 3
    assert [s for _, _, s in api.sim.log[-3:]] == [429, 429, 200]
    retry_counts = [e.request.headers["x-stainless-retry-count"] for e in api.sim.exchanges[-3:]]
    assert retry_counts == ["0", "1", "2"]

    api.sim.faults.rate_limit("jobs.retrieve", retry_after=1, times=None)
    with pytest.raises(openai.RateLimitError):
        await api.call("fine_tuning.jobs.retrieve", job_id, retries=2)
    assert api.sim.calls["jobs.retrieve"] == 6
    assert slept == [1.0] * 4


async def _a_job(api: Api) -> str:
    file_id = await ready_file(api)
    reply = await api.call("fine_tuning.jobs.create", model=MODEL, training_file=file_id)
    return str(reply.parsed.id)


async def test_every_response_carries_a_request_id(api: Api) -> None:
    """Each response has its own `x-request-id` (`req_` + 32 hex), exposed by the SDK."""
    file_id = await ready_file(api)
    replies = [
        await api.call("files.retrieve", file_id),
        await api.call("files.list"),
        await api.call("fine_tuning.jobs.create", model=MODEL, training_file=file_id),
        await api.call("models.retrieve", MODEL),
    ]
    ids = [r.headers["x-request-id"] for r in replies]
    assert all(REQUEST_ID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert [r.parsed._request_id for r in replies] == ids
    assert all(REQUEST_ID.match(e.response.headers["x-request-id"]) for e in api.sim.exchanges)


async def test_strict_parsing_yields_the_sdk_types(api: Api) -> None:
    """Strict SDK parsing yields the SDK's own types for files, jobs, models and batches."""
    file_id = await ready_file(api)
    assert isinstance((await api.call("files.retrieve", file_id)).parsed, FileObject)
    job = await api.call("fine_tuning.jobs.create", model="gpt-4o-mini", training_file=file_id)
    assert isinstance(job.parsed, FineTuningJob)
    assert job.parsed.model == MODEL
    assert isinstance((await api.call("models.retrieve", MODEL)).parsed, Model)
    batch_input = await upload(api, BATCH_LINE, filename="batch.jsonl", purpose="batch")
    api.sim.clock.sleep(2)
    batch = await api.call(
        "batches.create",
        input_file_id=batch_input,
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    assert isinstance(batch.parsed, Batch)
