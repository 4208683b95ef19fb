"""The offline simulator of the fine-tuning API: state, routing and the request loop.

`Simulator.handle(request) -> response` is the whole simulator; everything else (the httpx2
and httpx transports, respx, the socket server) only carries requests to it.

Added in 0.1.0.
"""

from __future__ import annotations

import importlib
import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openai import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI

from finetune_kit.dataset.catalog import model_info
from finetune_kit.dataset.tokens import TokenCounter
from finetune_kit.testing import routes
from finetune_kit.testing.adapters import (
    HttpLib,
    http_library,
    make_async_transport,
    make_transport,
)
from finetune_kit.testing.chat import TrainedStyle
from finetune_kit.testing.clock import Clock, VirtualClock
from finetune_kit.testing.faults import Faults
from finetune_kit.testing.jobs import JobRecord
from finetune_kit.testing.platform import DEFAULT_SHUTDOWN_DATES
from finetune_kit.testing.records import (
    BatchRecord,
    DeploymentRecord,
    FileRecord,
    Flavor,
    Timing,
    UploadRecord,
)
from finetune_kit.testing.wire import ApiError, SimRequest, SimResponse

if TYPE_CHECKING:
    import respx

__all__ = ["Simulator"]

Handler = Callable[["Simulator", SimRequest, "Context"], SimResponse]


@dataclass(frozen=True, slots=True)
class Context:
    """What routing found out about a request."""

    route: str
    flavor: Flavor
    params: dict[str, str]


_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    (m, re.compile(f"^{p}$"), name, h)
    for m, p, name, h in (
        ("POST", "files", "files.create", routes.files_create),
        ("GET", "files", "files.list", routes.files_list),
        ("GET", "files/(?P<id>[^/]+)", "files.retrieve", routes.files_retrieve),
        ("DELETE", "files/(?P<id>[^/]+)", "files.delete", routes.files_delete),
        ("GET", "files/(?P<id>[^/]+)/content", "files.content", routes.files_content),
        ("POST", "uploads", "uploads.create", routes.uploads_create),
        ("POST", "uploads/(?P<id>[^/]+)/parts", "uploads.parts", routes.uploads_parts),
        ("POST", "uploads/(?P<id>[^/]+)/complete", "uploads.complete", routes.uploads_complete),
        ("POST", "uploads/(?P<id>[^/]+)/cancel", "uploads.cancel", routes.uploads_cancel),
        ("POST", "fine_tuning/jobs", "jobs.create", routes.jobs_create),
        ("GET", "fine_tuning/jobs", "jobs.list", routes.jobs_list),
        ("GET", "fine_tuning/jobs/(?P<id>[^/]+)", "jobs.retrieve", routes.jobs_retrieve),
        ("POST", "fine_tuning/jobs/(?P<id>[^/]+)/cancel", "jobs.cancel", routes.jobs_cancel),
        ("POST", "fine_tuning/jobs/(?P<id>[^/]+)/pause", "jobs.pause", routes.jobs_pause),
        ("POST", "fine_tuning/jobs/(?P<id>[^/]+)/resume", "jobs.resume", routes.jobs_resume),
        ("GET", "fine_tuning/jobs/(?P<id>[^/]+)/events", "jobs.events", routes.jobs_events),
        (
            "GET",
            "fine_tuning/jobs/(?P<id>[^/]+)/checkpoints",
            "jobs.checkpoints",
            routes.jobs_checkpoints,
        ),
        ("GET", "models", "models.list", routes.models_list),
        ("GET", "models/(?P<id>.+)", "models.retrieve", routes.models_retrieve),
        ("DELETE", "models/(?P<id>.+)", "models.delete", routes.models_delete),
        ("POST", "chat/completions", "chat.create", routes.chat_create),
        (
            "POST",
            "deployments/(?P<deployment>[^/]+)/chat/completions",
            "chat.create",
            routes.chat_create,
        ),
        ("POST", "batches", "batches.create", routes.batches_create),
        ("GET", "batches", "batches.list", routes.batches_list),
        ("GET", "batches/(?P<id>[^/]+)", "batches.retrieve", routes.batches_retrieve),
        ("POST", "batches/(?P<id>[^/]+)/cancel", "batches.cancel", routes.batches_cancel),
        # Azure's management API (management.azure.com): deployments
        ("PUT", routes.ARM_PATH, "deployments.create", routes.deployments_put),
        ("GET", routes.ARM_PATH, "deployments.retrieve", routes.deployments_get),
        ("DELETE", routes.ARM_PATH, "deployments.delete", routes.deployments_delete),
    )
]


class Simulator:
    """A stateful, offline simulator of the OpenAI (and Azure OpenAI) fine-tuning API.

    Files, uploads, fine-tuning jobs with events, metrics and checkpoints, models, chat
    completions and batches, on a clock you control, with scriptable faults. Code that works
    against it works against the real API: responses have the official shapes.

    Example:
        ```python
        sim = Simulator()
        client = sim.client()                       # an openai.OpenAI wired to the simulator
        f = client.files.create(file=open("train.jsonl", "rb"), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)
        sim.clock.sleep(3600)                       # an hour passes, instantly
        client.fine_tuning.jobs.retrieve(job.id).status   # 'succeeded'
        ```

    Args:
        clock: Virtual time by default (`VirtualClock`), or a `ScaledClock` for demos.
        timing: How long each phase takes.
        seed: Seeds ids, metrics noise and sampling: the same seed, the same run.
        organization: The organisation id on jobs (its slug goes into model names).
        shutdown_dates: Base models and their shutdown dates (default: the published ones).
        poll_after_ms: When set, job retrievals carry `openai-poll-after-ms` with this value.

    Added in 0.1.0.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        timing: Timing | None = None,
        seed: int = 0,
        organization: str = "org-finetune-kit-sim",
        shutdown_dates: dict[str, str | None] | None = None,
        poll_after_ms: int | None = None,
    ) -> None:
        self.clock: Clock = clock or VirtualClock()
        self.timing = timing or Timing()
        self.faults = Faults(seed)
        self.organization = organization
        self.shutdown_dates = dict(
            DEFAULT_SHUTDOWN_DATES if shutdown_dates is None else shutdown_dates
        )
        self.poll_after_ms = poll_after_ms
        self.rng = random.Random(seed)
        # Request ids have their own generator: how often a client polls must not change the
        # ids of what it creates later.
        self._request_ids = random.Random(f"requests-{seed}")
        self.files: dict[str, FileRecord] = {}
        self.uploads: dict[str, UploadRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        self.deleted_models: set[str] = set()
        self.styles: dict[str, TrainedStyle] = {}
        self._counters: dict[str, TokenCounter] = {}
        self.deployments: dict[str, str] = {}
        """Azure deployment name -> the model it serves. Chat on Azure paths takes a deployment
        name, and a tuned model answers only through one: deploy it with `TunedModel.deploy`
        (the simulator answers the management API too) or set it here (it serves at once)."""
        self.arm_deployments: dict[str, DeploymentRecord] = {}
        """Deployments made through the management API, by name (with their provisioning)."""
        self.calls: Counter[str] = Counter()
        """Requests received, by route name (faulted ones included)."""
        self.log: list[tuple[str, str, int]] = []
        """(method, route, status) of every request, in order."""
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (
            f"<Simulator jobs={len(self.jobs)} files={len(self.files)} now={self.clock.now():.0f}>"
        )

    # --- clients ------------------------------------------------------------------------------

    def transport(self, library: HttpLib | None = None) -> Any:
        """A sync `MockTransport` answering from this simulator, for clients of `library`.

        `library` is `"httpx2"` or `"httpx"`; by default the one the installed openai SDK uses
        (httpx2, or httpx on openai 2.x). Pass it as
        `http_client=httpx2.Client(transport=sim.transport())`. A client of the other library
        needs its own transport: `finetune_kit.azure` always speaks httpx2, so its management
        client is `httpx2.Client(transport=sim.transport("httpx2"))` on any openai.

        Added in 0.1.0.
        """
        return make_transport(self, library)

    def async_transport(self, library: HttpLib | None = None) -> Any:
        """An async `MockTransport` of `library` (default: the SDK's HTTP library)."""
        return make_async_transport(self, library)

    def _http(self, *, asynchronous: bool) -> Any:
        """An httpx2 (or, on openai 2.x, httpx) client whose transport is this simulator."""
        module = importlib.import_module(http_library())
        if asynchronous:
            return module.AsyncClient(transport=self.async_transport())
        return module.Client(transport=self.transport())

    def client(
        self,
        *,
        base_url: str = "https://api.simulator.test/v1",
        max_retries: int = 2,
        **kwargs: Any,
    ) -> OpenAI:
        """An `openai.OpenAI` answered by this simulator (no network, any API key).

        Added in 0.1.0.
        """
        kwargs.setdefault("api_key", "sk-simulator")
        http = self._http(asynchronous=False)
        return OpenAI(base_url=base_url, max_retries=max_retries, http_client=http, **kwargs)

    def async_client(
        self,
        *,
        base_url: str = "https://api.simulator.test/v1",
        max_retries: int = 2,
        **kwargs: Any,
    ) -> AsyncOpenAI:
        """An `openai.AsyncOpenAI` answered by this simulator.

        Added in 0.1.0.
        """
        kwargs.setdefault("api_key", "sk-simulator")
        http = self._http(asynchronous=True)
        return AsyncOpenAI(base_url=base_url, max_retries=max_retries, http_client=http, **kwargs)

    def azure_client(self, *, max_retries: int = 2, **kwargs: Any) -> AzureOpenAI:
        """An `openai.AzureOpenAI` answered by this simulator (`/openai/...?api-version=` paths).

        Keyword arguments go to `AzureOpenAI` (defaults: a simulator endpoint, api_version
        `2025-04-01-preview`, any API key).

        Added in 0.1.0.
        """
        http = self._http(asynchronous=False)
        return AzureOpenAI(max_retries=max_retries, http_client=http, **_azure_defaults(kwargs))

    def async_azure_client(self, *, max_retries: int = 2, **kwargs: Any) -> AsyncAzureOpenAI:
        """An `openai.AsyncAzureOpenAI` answered by this simulator (see `azure_client`).

        Added in 0.1.0.
        """
        http = self._http(asynchronous=True)
        return AsyncAzureOpenAI(
            max_retries=max_retries, http_client=http, **_azure_defaults(kwargs)
        )

    def mock(self, *, base_url: str | None = None, using: str | None = None) -> respx.MockRouter:
        """A respx router answering from this simulator (see `finetune_kit.testing.respx_mock`).

        Added in 0.1.0.
        """
        from finetune_kit.testing.respx_mock import mount  # noqa: PLC0415 - respx is optional

        return mount(self, base_url=base_url, using=using)

    # --- ids and time -----------------------------------------------------------------------

    def new_id(self, prefix: str, size: int = 24) -> str:
        """A fresh id such as `file-<24 hex>` (deterministic for a seed)."""
        return f"{prefix}{self.rng.getrandbits(size * 4):0{size}x}"

    def _request_id(self) -> str:
        return f"req_{self._request_ids.getrandbits(128):032x}"

    def now(self) -> float:
        """The simulator's clock."""
        return self.clock.now()

    def counter(self, model: str) -> TokenCounter:
        """A token counter for `model`'s tokenizer (shared per encoding)."""
        encoding = model_info(model).encoding
        counter = self._counters.get(encoding)
        if counter is None:
            counter = self._counters[encoding] = TokenCounter(encoding)
        return counter

    # --- the request loop -------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request (faults and latency applied).

        Added in 0.1.0.
        """
        with self._lock:
            try:
                ctx, handler = self._route(request)
            except ApiError as err:
                self.log.append((request.method, "unknown", err.status))
                response = err.response()
                response.headers["x-request-id"] = self._request_id()
                return response
            self.calls[ctx.route] += 1
            response = self._answer(request, ctx, handler)
            self.log.append((request.method, ctx.route, response.status))
            return response

    def _answer(self, request: SimRequest, ctx: Context, handler: Handler) -> SimResponse:
        delay = self.faults.delay(ctx.route)
        fault = self.faults.match(ctx.route)
        if fault is not None and not fault.after:
            response = _fault_response(fault)
        else:
            try:
                self._authenticate(request, ctx)
                response = handler(self, request, ctx)
            except ApiError as err:
                response = err.response()
            if fault is not None:  # `after`: the work is done, the client never hears of it
                response = _fault_response(fault)
        response.headers.setdefault("x-request-id", self._request_id())
        response.delay = delay
        return response

    def _route(self, request: SimRequest) -> tuple[Context, Handler]:
        path = request.path
        flavor: Flavor = "openai"
        if path.startswith("/openai/v1/"):
            rest, flavor = path[len("/openai/v1/") :], "azure"
        elif path.startswith("/openai/"):
            rest, flavor = path[len("/openai/") :], "azure"
            if request.param("api-version") is None:
                raise ApiError(404, "Resource not found", code="404")
        elif path.lower().startswith("/subscriptions/"):  # Azure's management API
            rest, flavor = path[1:], "azure"
        elif "/v1/" in path:
            rest = path.split("/v1/", 1)[1]
        else:
            rest = path.lstrip("/")
        rest = rest.rstrip("/")
        known_path = False
        for method, pattern, name, handler in _ROUTES:
            match = pattern.match(rest)
            if match is None:
                continue
            known_path = True
            if method == request.method:
                return Context(name, flavor, match.groupdict()), handler
        if known_path:
            raise ApiError(405, f"Method {request.method} not allowed for /{rest}")
        raise ApiError(404, f"Invalid URL ({request.method} /{rest})", code="unknown_url")

    def _authenticate(self, request: SimRequest, ctx: Context) -> None:
        if ctx.route.startswith("deployments."):
            return  # the management API checks its own bearer token (routes._arm_checked)
        auth = request.headers.get("authorization", "")
        key = request.headers.get("api-key", "")
        if (auth.startswith("Bearer ") and auth[7:].strip()) or (
            ctx.flavor == "azure" and key.strip()
        ):
            return
        if ctx.flavor == "azure":
            raise ApiError(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                "provide a valid key for an active subscription and use a correct regional API "
                "endpoint for your resource.",
                code="401",
            )
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="missing_api_key",
        )

    # --- lookups shared by the routes ---------------------------------------------------------

    def deployment_ready(self, name: str) -> bool:
        """Whether the Azure deployment `name` exists and has finished provisioning."""
        record = self.arm_deployments.get(name)
        return name in self.deployments and (record is None or self.now() >= record.ready_at)

    def tick(self) -> None:
        """Bring every job up to the clock."""
        now = self.now()
        for job in self.jobs.values():
            job.advance(now, self)

    def file(self, file_id: str, *, param: str | None = None) -> FileRecord:
        """A live file, or a 404 naming it."""
        record = self.files.get(file_id)
        if record is None or record.deleted:
            raise ApiError(
                404, f"No such File object: {file_id}", param=param or "id", code="file_not_found"
            )
        return record

    def job(self, job_id: str) -> JobRecord:
        """A job brought up to the clock, or a 404 naming it."""
        record = self.jobs.get(job_id)
        if record is None:
            raise ApiError(
                404,
                f"Fine-tuning job {job_id} not found.",
                param="fine_tuning_job_id",
                code="fine_tune_not_found",
            )
        record.advance(self.now(), self)
        return record

    # --- what jobs need from their host (see JobHost) -------------------------------------------

    def validate_job(self, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
        """Validate a job's files as the server does; (examples, tokens per epoch) or an error.

        Whatever the data, this answers: a failure while checking it (even a `BaseException`
        from the tokenizer) fails the job, never the server.
        """
        try:
            return routes.validate_job_files(self, job)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - a Rust panic is a BaseException
            return {
                "code": "invalid_training_file",
                "message": "The job failed due to an invalid training file. The file could not "
                f"be processed ({type(exc).__name__}).",
                "param": "training_file",
            }

    def write_results(self, job: JobRecord, content: bytes, at: float) -> str:
        """Store a job's results CSV as a `fine-tune-results` file made at `at`; return its id."""
        record = self.add_file(
            content, filename=f"{job.id}_results.csv", purpose="fine-tune-results", at=at
        )
        return record.id

    def model_name(self, job: JobRecord) -> str:
        """The name of the model a job produces."""
        return routes.model_name_for(job)

    def add_file(
        self,
        content: bytes,
        *,
        filename: str,
        purpose: str,
        error: str | None = None,
        at: float | None = None,
    ) -> FileRecord:
        """Store a file: uploaded now and processed after the usual delay, or made (ready) at `at`."""
        now = self.now() if at is None else at
        record = FileRecord(
            id=self.new_id("file-"),
            filename=filename,
            purpose=purpose,
            created_at=int(now),
            content=content,
            ready_at=now + (self.timing.file_processing if at is None else 0.0),
            error=error,
        )
        self.files[record.id] = record
        return record


def _azure_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    endpoint = kwargs.pop("endpoint", "https://simulator.openai.azure.com")
    return {
        "api_key": "azure-simulator-key",
        "azure_endpoint": endpoint,
        "api_version": "2025-04-01-preview",
        **kwargs,
    }


def _fault_response(fault: Any) -> SimResponse:
    if fault.kind in ("timeout", "disconnect"):
        return SimResponse(status=0, fault=fault.kind)
    body = fault.body
    if body is None:
        message = {
            500: "The server had an error while processing your request. Sorry about that!",
            502: "Bad gateway.",
            503: "The engine is currently overloaded, please try again later.",
        }.get(fault.status, "Simulated error.")
        body = {
            "error": {
                "message": message,
                "type": "server_error" if fault.status >= 500 else "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    return SimResponse.of_json(body, status=fault.status, headers=dict(fault.headers))
