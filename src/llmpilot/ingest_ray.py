"""Bulk ingest on Ray: a local cluster (`--ray-workers N`) or an existing one (`--ray-address`).

Workers do the heavy part — loading, transforms, chunking, passage embedding — in a pool of actors,
each holding one transform pipeline, chunker and embedder for its whole life (a model is loaded
once per worker process, not per task). The driver alone talks to the store: it checks the
embedding cache, deduplicates in unit order, and commits groups of units exactly as an in-process
ingest does, so the store ends identical. A bounded number of tasks is in flight and results are
taken in submission order, which keeps the driver's memory flat and the result deterministic.
"""

from __future__ import annotations

import pickle
import socket
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

from llmpilot.config import PipelineConfig
from llmpilot.embedding.cache import CachedEmbedder
from llmpilot.errors import ConfigError, LlmpilotError
from llmpilot.extras import requires_extra
from llmpilot.ingest import PreparedUnit, make_chunker, make_embedder, prepare_unit
from llmpilot.protocols import Embedder
from llmpilot.sources.base import SourceUnit
from llmpilot.store.db import Store
from llmpilot.transforms import TransformPipeline

T = TypeVar("T")
R = TypeVar("R")

#: Tasks in flight per worker: one running, one queued, so a worker never waits for the driver.
IN_FLIGHT_PER_WORKER = 2


def _ray() -> Any:
    with requires_extra("optimize", "Ingesting on Ray (--ray-workers, --ray-address)"):
        import ray
    return ray


def check_options(workers: int | None, address: str | None) -> None:
    """The CLI's --ray-workers / --ray-address, checked before anything starts."""
    if workers is not None and address:
        raise ConfigError(
            "--ray-workers and --ray-address cannot be used together: --ray-workers starts a local "
            "cluster, --ray-address joins an existing one; give one of them"
        )
    if workers is not None and workers < 1:
        raise ConfigError(f"--ray-workers must be at least 1 (got {workers})")
    if address is not None and not address.strip():
        raise ConfigError("--ray-address is empty: give `auto`, host:port or ray://host:port")


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a host:port where nothing listens: ray.init would retry for minutes, deaf to
    Ctrl-C. `auto` (and an address without a port) is left for Ray to resolve."""
    host, sep, port = address.strip().removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise LlmpilotError(
            f"--ray-address {address}: nothing answers at {host}:{port} ({exc.strerror or exc}); "
            "start the cluster there with `ray start --head`, or check the address"
        ) from None


def ships_to_workers(unit: SourceUnit) -> bool:
    """Whether a unit can be loaded on a worker: its loader must pickle by reference (a file unit:
    a module-level function and a path). A closure (a SQL unit, holding the database URL and its
    password) is loaded on the driver instead — and the database may not be reachable from
    other nodes anyway."""
    try:
        pickle.dumps(unit)
    except Exception:  # PicklingError, AttributeError, TypeError: whatever pickle refuses
        return False
    return True


class _Worker:
    """Body of the Ray actor: built once per worker process, it serves many units and batches."""

    def __init__(self, cfg: PipelineConfig) -> None:
        self.cfg = cfg
        self.transforms = TransformPipeline(cfg.transforms)
        self.chunker = make_chunker(cfg)
        self._embedder: Embedder | None = None

    def _embedder_once(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.cfg)
        return self._embedder

    def model_id(self) -> str:
        return self._embedder_once().model_id

    def prepare(self, unit: SourceUnit) -> PreparedUnit:
        return prepare_unit(unit, self.transforms, self.chunker)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._embedder_once().embed(texts, "passage")


class _Pool:
    """Actors, each sent the next call when it has the fewest calls outstanding."""

    def __init__(self, ray: Any, actors: list[Any]) -> None:
        self.ray = ray
        self.actors = actors
        self.busy = [0] * len(actors)
        self.owner: dict[Any, int] = {}
        self.max_in_flight = IN_FLIGHT_PER_WORKER * len(actors)
        #: Calls sent, by method (what ran remotely; for tests and benchmarks).
        self.sent: Counter[str] = Counter()

    def submit(self, method: str, *args: Any) -> Any:
        i = min(range(len(self.actors)), key=self.busy.__getitem__)
        ref = getattr(self.actors[i], method).remote(*args)
        self.busy[i] += 1
        self.owner[ref] = i
        self.sent[method] += 1
        return ref

    def get(self, ref: Any) -> Any:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            lines = str(exc).strip().splitlines()
            raise LlmpilotError(
                f"a Ray ingest worker died ({lines[0] if lines else type(exc).__name__}); what was "
                "committed is kept: run the same ingest again to resume"
            ) from None
        except self.ray.exceptions.RayTaskError as exc:
            # The worker's own exception (a transform or embedder error), as if raised here: a
            # user error keeps its one-line message; --debug shows the worker's traceback too.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from exc
            raise
        finally:
            self.busy[self.owner.pop(ref)] -= 1

    def ordered(
        self, items: Sequence[T], submit: Callable[[T], Any | None], local: Callable[[T], R]
    ) -> Iterator[R]:
        """Results for `items` in their order, with at most `max_in_flight` calls outstanding.
        `submit` returns None for an item that must be done here, by `local`."""
        window: deque[tuple[T, Any | None]] = deque()
        todo = iter(items)

        def fill() -> None:
            while len(window) < self.max_in_flight:
                item = next(todo, None)
                if item is None:
                    return
                window.append((item, submit(item)))

        fill()
        while window:
            item, ref = window.popleft()
            result = local(item) if ref is None else self.get(ref)
            fill()  # before handing the result over: workers keep busy while the driver writes
            yield result

    def each(self, method: str) -> list[Any]:
        """Call `method` on every actor and wait for all of them."""
        refs = []
        for i, actor in enumerate(self.actors):
            ref = getattr(actor, method).remote()
            self.busy[i] += 1
            self.owner[ref] = i
            refs.append(ref)
        return [self.get(ref) for ref in refs]

    def kill(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


class _RayCachedEmbedder(CachedEmbedder):
    """The store's embedding cache, with the missing batches embedded on the workers in parallel.
    Batches are the same as in process and written back in order, so the cache rows are too."""

    def __init__(self, embedder: Embedder, store: Store, batch_size: int, pool: _Pool) -> None:
        super().__init__(embedder, store, batch_size=batch_size)
        self.pool = pool

    def passage_vectors(self, batches: Sequence[Sequence[str]]) -> Iterator[np.ndarray]:
        for vectors in self.pool.ordered(
            batches,
            lambda texts: self.pool.submit("embed", list(texts)),
            lambda texts: self.embedder.embed(list(texts), "passage"),
        ):
            yield np.asarray(vectors, dtype=np.float32)


class RayExecutor:
    """`Ingestor(..., executor=RayExecutor(cfg, workers=N))`: use as a context manager (or call
    `close`) so the actors, and a local cluster it started, are shut down."""

    def __init__(
        self, cfg: PipelineConfig, *, workers: int | None = None, address: str | None = None
    ) -> None:
        check_options(workers, address)
        if address:
            check_reachable(address)
        ray = _ray()
        self.ray = ray
        self._started = False
        if not ray.is_initialized():
            if address:
                try:
                    ray.init(address=address, log_to_driver=False)
                except Exception as exc:  # ConnectionError, ValueError, ...: say what to check
                    lines = str(exc).strip().splitlines()
                    raise LlmpilotError(
                        f"--ray-address {address}: cannot join the Ray cluster "
                        f"({lines[0] if lines else type(exc).__name__}); start it with `ray start --head` "
                        "and give its address (or `auto` on one of its nodes)"
                    ) from None
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
                self._started = True
        n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor_cls = ray.remote(num_cpus=1)(_Worker)
        self.pool = _Pool(ray, [actor_cls.remote(cfg) for _ in range(n_workers)])
        self.workers = n_workers
        # For units that cannot be shipped (SQL): loaded and transformed here, chunked after dedup.
        self.transforms = TransformPipeline(cfg.transforms)

    def prepare(self, units: Sequence[SourceUnit]) -> Iterator[PreparedUnit]:
        return self.pool.ordered(
            units,
            lambda unit: self.pool.submit("prepare", unit) if ships_to_workers(unit) else None,
            lambda unit: prepare_unit(unit, self.transforms, None),
        )

    def cached_embedder(self, embedder: Embedder, store: Store, batch_size: int) -> CachedEmbedder:
        # The cache key is the driver's model id: a worker with another model (or another package
        # version on another node) would fill the cache with vectors the driver cannot reproduce.
        ids = set(self.pool.each("model_id"))
        if ids != {embedder.model_id}:
            raise ConfigError(
                f"embedder: the Ray workers load {', '.join(sorted(ids))} but this process uses "
                f"{embedder.model_id}; install the same llmpilot and model packages on every node"
            )
        return _RayCachedEmbedder(embedder, store, batch_size, self.pool)

    def close(self) -> None:
        self.pool.kill()
        if self._started:
            self.ray.shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
