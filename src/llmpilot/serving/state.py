"""What the server holds: its settings, the served collections (pipelines) per tenant, the store of
keys/traces/feedback, sessions and rate limits."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from llmpilot.answering import AnswerRun, Responder
from llmpilot.pipeline import Pipeline, Sampling
from llmpilot.serving.errors import ApiError
from llmpilot.store.serving import ServingStore
from llmpilot.store.shared_state import RateLimitStore, SessionStore

if TYPE_CHECKING:
    from llmpilot.serving.deployment import Deployment
    from llmpilot.serving.telemetry import Telemetry
    from llmpilot.types import Answer

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class ServeSettings:
    #: Origins allowed by CORS (exact, e.g. "https://app.example.com"); empty = no CORS headers.
    cors_origins: tuple[str, ...] = ()
    #: Requests per minute per API key; 0 = unlimited.
    rate_limit_per_min: int = 120
    max_body_bytes: int = 256 * 1024
    session_ttl_s: float = 12 * 3600.0
    #: Mark the session cookie Secure (set it when served over HTTPS).
    secure_cookie: bool = False
    #: Extra folders with report .html files, shown to the admins of the first collection's tenant.
    reports_dirs: tuple[Path, ...] = ()
    #: Serve GET /metrics without a key (else an admin key of the first collection's tenant).
    metrics_public: bool = False


class Collection:
    """A served pipeline, owned by one tenant (the Responder makes it safe to call from threads)."""

    def __init__(
        self, name: str, tenant: str, pipeline: Pipeline, responder: Responder | None = None
    ) -> None:
        self.name = name
        self.tenant = tenant
        self.pipeline = pipeline
        self.responder = responder or Responder(pipeline, tenant=tenant, collection=name)
        self.config_hash = pipeline.cfg.hash()
        #: The config version being served (llmpilot.monitoring.versions); None before versions exist.
        self.config_version: int | None = None
        #: "live", or "candidate" for the candidate side of a traffic split (recorded in traces).
        self.variant = "live"
        #: The online experiment this collection is the candidate of (traffic split), else None.
        self.experiment_id: int | None = None

    def swap(self, pipeline: Pipeline, config_version: int | None) -> None:
        """Serve another config version from now on (a promotion or rollback while serving); requests
        in flight finish with the responder they started with."""
        responder = Responder(pipeline, tenant=self.tenant, collection=self.name)
        responder.warm()
        _ = pipeline.generator
        self.pipeline, self.responder = pipeline, responder
        self.config_hash, self.config_version = pipeline.cfg.hash(), config_version

    @property
    def reports_dir(self) -> Path:
        return self.pipeline.project.root / "reports"

    def start(
        self,
        question: str,
        *,
        k: int | None,
        lang: str | None,
        generate: bool,
        search_query: str | None = None,
        sampling: Sampling | None = None,
        use_cache: bool = True,
    ) -> AnswerRun:
        return self.responder.start(
            question,
            k=k,
            lang=lang,
            generate=generate,
            search_query=search_query,
            sampling=sampling,
            use_cache=use_cache,
        )

    @property
    def max_tokens_limit(self) -> int:
        """The most answer tokens a request may ask for: the generator's context window when it
        has one, else the configured max_tokens times four."""
        window = getattr(self.pipeline.generator, "context_window", None)
        return int(window) if isinstance(window, int) else 4 * self.pipeline.cfg.generator.max_tokens

    def condense(self, messages: Sequence[ChatMessageLike]) -> tuple[str | None, str]:
        """(standalone search query or None when the last question stands alone, how it was made)."""
        from llmpilot.conversation import Turn, condense

        turns = [Turn(m.role, m.text()) for m in messages if m.role in ("user", "assistant")]
        if sum(1 for t in turns if t.role == "user") < 2:
            return None, "as-is"
        mode = self.pipeline.cfg.answer.condense
        if mode == "off":
            return None, "as-is"
        generator = self.pipeline.generator if mode == "generator" else None
        condensed = condense(turns, generator=generator)
        return condensed.query, condensed.method

    def check(self) -> None:
        """Refuse to serve what cannot answer: the prompt template, the generator's model and the
        store must all be there (each raises an error naming what is missing)."""
        _ = self.pipeline.template
        _ = self.pipeline.generator
        self.pipeline.project.store.counts()

    def warm(self, generate: bool = True) -> None:
        """Load indexes, embedder, tokenizers (and the generator) now rather than on the first request."""
        self.responder.warm()
        if generate:
            _ = self.pipeline.generator


class ChatMessageLike(Protocol):
    @property
    def role(self) -> str: ...

    def text(self) -> str: ...


@dataclass
class ServerState:
    settings: ServeSettings
    store: ServingStore
    collections: list[Collection]
    started_at: float = field(default_factory=time.time)
    #: Spans, metrics and trace metadata of every answer (built in create_app).
    telemetry: Telemetry | None = None
    #: Per served collection (by tenant and name): its config versions and experiments (create_app).
    deployments: dict[tuple[str, str], Deployment] = field(default_factory=dict)
    #: Sessions and rate limits are in the store: shared by every worker over it.
    sessions: SessionStore = field(init=False)
    limiter: RateLimitStore = field(init=False)

    def __post_init__(self) -> None:
        names = [(c.tenant, c.name) for c in self.collections]
        if len(set(names)) != len(names):
            raise ValueError(f"two collections share a tenant and name: {names}")
        self.sessions = SessionStore(self.store.store, self.settings.session_ttl_s)
        self.limiter = RateLimitStore(self.store.store, self.settings.rate_limit_per_min)

    def collections_for(self, tenant: str) -> list[Collection]:
        return [c for c in self.collections if c.tenant == tenant]

    def collection(self, tenant: str, name: str | None) -> Collection:
        """The tenant's collection `name` (its first one when None); 404 for another tenant's, never 403."""
        mine = self.collections_for(tenant)
        if name is None:
            if mine:
                return mine[0]
            raise ApiError(404, f"tenant {tenant!r} has no collection", "collection_not_found")
        for c in mine:
            if c.name == name:
                return c
        raise ApiError(404, f"no collection named {name!r}", "model_not_found")

    def serving_collection(self, tenant: str, name: str | None, caller: str) -> Collection:
        """The collection that answers `caller`: the live one, or the candidate of a traffic split
        for the callers in its arm (llmpilot.serving.deployment)."""
        live = self.collection(tenant, name)
        deployment = self.deployments.get((live.tenant, live.name))
        return deployment.route(caller) if deployment is not None else live

    def after_answer(self, collection: Collection, trace_id: str, answer: Answer) -> None:
        """A final answer was stored: a shadow experiment answers it again with the candidate."""
        deployment = self.deployments.get((collection.tenant, collection.name))
        if deployment is None or str(deployment.project.store.engine.url) != str(self.store.engine.url):
            return  # shadow pairs live next to the traces: only for the project that holds them
        from llmpilot.monitoring.store import MonitorStore

        deployment.shadow(answer, trace_id, collection, MonitorStore(self.store.store))
