"""The offline simulator of the fine-tuning API: the platform with simulated engines.

`Simulator.handle(request) -> response` is the whole simulator; everything else (the httpx2
and httpx transports, respx, the socket server) only carries requests to it. The API itself
(stores, job states, routes, wire shapes, faults) is `finetune_kit.platform`'s; what is
simulated is what trains (`testing.jobs`) and what answers (`testing.chat`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_kit.dataset.catalog import model_info
from finetune_kit.platform.core import Platform
from finetune_kit.platform.routes import ROUTES
from finetune_kit.platform.wire import ApiError
from finetune_kit.testing import routes
from finetune_kit.testing.chat import SimulatedInferenceEngine
from finetune_kit.testing.clock import Clock, VirtualClock
from finetune_kit.testing.jobs import SimulatedTrainingEngine, Timing
from finetune_kit.testing.platform import ALIASES, DEFAULT_SHUTDOWN_DATES, WIND_DOWN

if TYPE_CHECKING:
    from finetune_kit.platform.engine import ServedModel
    from finetune_kit.platform.jobs import JobRecord
    from finetune_kit.platform.routes import Handler
    from finetune_kit.platform.store import Store

__all__ = ["Simulator"]

ORG_SLUG = "finetune-kit-sim"
"""The organisation slug in simulated tuned models' names."""

_ROUTES: list[tuple[str, Any, str, Handler]] = [
    (r.method, r.pattern, r.name, r.handler) for r in ROUTES
]
"""(method, pattern, route name, handler) of every route the simulator answers."""


class Simulator(Platform):
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
        store: Where files, jobs and models are kept: in memory by default; a
            `finetune_kit.platform.DiskStore(folder)` keeps them in a folder, and a simulator
            made later over the same folder finds them (jobs it left unfinished are failed).

    Added in 0.1.0.
    """

    base_url = "https://api.simulator.test/v1"
    api_key = "sk-simulator"
    azure_endpoint = "https://simulator.openai.azure.com"
    azure_api_key = "azure-simulator-key"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        timing: Timing | None = None,
        seed: int = 0,
        organization: str = "org-finetune-kit-sim",
        shutdown_dates: dict[str, str | None] | None = None,
        poll_after_ms: int | None = None,
        store: Store | None = None,
    ) -> None:
        self.timing: Timing = timing or Timing()
        super().__init__(
            clock=clock or VirtualClock(),
            training=SimulatedTrainingEngine(self.timing, lambda job_id: self.jobs[job_id].rng),
            inference=SimulatedInferenceEngine(self._training_data),
            base_models=DEFAULT_SHUTDOWN_DATES if shutdown_dates is None else shutdown_dates,
            timing=self.timing,
            store=store,
            seed=seed,
            organization=organization,
            org_slug=ORG_SLUG,
            aliases=ALIASES,
            wind_down=WIND_DOWN,
            poll_after_ms=poll_after_ms,
            system_fingerprint="fp_finetune_kit_sim",
        )

    def validate_files(self, job: JobRecord) -> tuple[int, int] | dict[str, Any]:
        """`Dataset.validate`'s checks (through `testing.routes`, where tests may patch them)."""
        return routes.validate_job_files(self, job)

    def answers_base(self, name: str) -> bool:
        """A base model served, or any model the catalog knows (e.g. `gpt-4o`)."""
        return name in self.shutdown_dates or model_info(name).known

    def _training_data(self, model: ServedModel) -> bytes | None:
        try:
            _, job = self.find_model(model.name)
        except ApiError:
            return None
        return None if job is None else self.files[job.training_file].content
