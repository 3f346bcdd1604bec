"""A served collection follows its project's config versions while the server runs.

- Promotion and rollback: the store's live version is polled (one cheap query, at most every
  `poll_s`); a new one is built in the background (indexes, models shared with the running pipeline
  where the settings are the same) and swapped in; requests in flight finish on the old one.
- A running experiment: "split" serves a sticky fraction of the callers with the candidate (their
  traces say variant "candidate"); "shadow" answers a fraction of the live requests again with the
  candidate in a background thread, judges both, and stores the pair (the user only sees the live
  answer).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from llmpilot.monitoring import experiments
from llmpilot.monitoring.evalset import EvalItem, eval_set_path, load_eval_set
from llmpilot.monitoring.store import MonitorStore
from llmpilot.monitoring.versions import ensure_live_version, overrides_note, project_for
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.serving.state import Collection
from llmpilot.types import Answer

log = logging.getLogger("llmpilot.serving")

#: Seconds between two looks at the store for a promotion or an experiment.
POLL_S = 2.0


class Deployment:
    def __init__(self, collection: Collection, *, poll_s: float = POLL_S, background: bool = True) -> None:
        self.collection = collection
        self.project: Project = collection.pipeline.project
        self.monitor = MonitorStore(self.project.store)
        self.poll_s = poll_s
        self.background = background
        self.candidate: Collection | None = None
        self.experiment: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self._build_lock = threading.Lock()
        self._applying = False
        self._shadow = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmpilot-shadow")
        self._references: tuple[float, dict[str, EvalItem]] = (-1.0, {})
        self._closed = threading.Event()

    # --- following the store -----------------------------------------------------------------------

    def start(self, *, follow: bool = False) -> None:
        """At server start: the served config (llmpilot.yaml) is the live version (registered as one
        when the store has none or the file was edited by hand). `follow`: a background thread looks
        at the store every `poll_s`, so a promotion is served within seconds even when no request
        comes in (requests also look, at most every `poll_s`)."""
        live = ensure_live_version(self.project, by="llmpilot serve")
        self.collection.config_version = live.id
        # `serve --set`: the file stays the live version; say so when the overrides change what it answers.
        note = overrides_note(self.project, live)
        if note:
            log.warning("%s: %s", self.collection.name, note)
        self.refresh(force=True, wait=True)
        if follow:
            threading.Thread(target=self._follow, name="llmpilot-deployment", daemon=True).start()

    def _follow(self) -> None:
        while not self._closed.wait(self.poll_s):
            self.refresh(force=True, wait=True)

    def refresh(self, *, force: bool = False, wait: bool = False) -> None:
        """Look for a promotion or an experiment change (rate-limited unless `force`) and apply it:
        now when `wait`, else in a background thread (the request that looked is not delayed)."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._checked < self.poll_s:
                return
            self._checked = now
        if not self._pending_change():
            return
        if wait or not self.background:
            self._apply()
            return
        with self._lock:
            if self._applying:
                return
            self._applying = True
        threading.Thread(target=self._apply, name="llmpilot-load-version", daemon=True).start()

    def _pending_change(self) -> bool:
        try:
            live_id = self.monitor.live_version_id()
            running = self.monitor.running_experiment()
        except Exception:  # a store hiccup must not fail the request that triggered the look
            log.exception("could not read the deployment state of %s", self.collection.name)
            return False
        current = self.experiment["id"] if self.experiment else None
        wanted = running["id"] if running else None
        return (live_id is not None and live_id != self.collection.config_version) or wanted != current

    def _apply(self) -> None:
        """Bring the served pipelines in line with the store. One at a time: a second caller waits,
        then finds the work done (each step re-reads what is wanted)."""
        try:
            with self._build_lock:
                live_id = self.monitor.live_version_id()
                if live_id is not None and live_id != self.collection.config_version:
                    self.collection.swap(self._pipeline(live_id), live_id)
                    log.info("%s now serves config version %s", self.collection.name, live_id)
                running = self.monitor.running_experiment()
                current = self.experiment["id"] if self.experiment else None
                if running is None:
                    self.experiment, self.candidate = None, None
                elif running["id"] != current:
                    version_id = int(running["candidate_version"])
                    candidate = Collection(
                        self.collection.name, self.collection.tenant, self._pipeline(version_id)
                    )
                    candidate.warm()
                    candidate.config_version = version_id
                    candidate.variant = "candidate"
                    candidate.experiment_id = int(running["id"])
                    self.candidate, self.experiment = candidate, running
                    log.info(
                        "%s: experiment %s (%s) with config version %s",
                        self.collection.name,
                        running["id"],
                        running["mode"],
                        version_id,
                    )
        except Exception:
            log.exception("could not apply the deployment state of %s", self.collection.name)
        finally:
            with self._lock:
                self._applying = False

    def _pipeline(self, version_id: int) -> Pipeline:
        version = self.monitor.version(version_id)
        if version is None:
            raise ValueError(f"no config version {version_id}")
        project = project_for(self.project, version)
        running = self.collection.pipeline
        # Models are shared when their settings are the same: a candidate that only changes retrieval
        # must not load a second copy of the generator.
        generator = running.generator if project.config.generator == running.cfg.generator else None
        embedder = running.embedder if project.config.embedder == running.cfg.embedder else None
        pipeline = Pipeline(project, generator=generator, embedder=embedder)
        _ = pipeline.indexes
        return pipeline

    # --- serving -----------------------------------------------------------------------------------

    def route(self, caller: str) -> Collection:
        """The collection that answers this caller: the candidate for its split arm, else the live one."""
        self.refresh()
        exp, candidate = self.experiment, self.candidate
        if exp is None or candidate is None or exp["mode"] != "split":
            return self.collection
        arm = experiments.split_arm(int(exp["id"]), caller, float(exp["fraction"]))
        return candidate if arm == "candidate" else self.collection

    def shadow(self, answer: Answer, trace_id: str, served_by: Collection, store: MonitorStore) -> None:
        """Answer the same question with the candidate in the background (shadow mode only); the pair
        is judged and stored in `store` (the one that holds the traces)."""
        exp, candidate = self.experiment, self.candidate
        if not exp or candidate is None or exp["mode"] != "shadow" or served_by is not self.collection:
            return
        if answer.blocked:
            return  # a refused request is not a question for the candidate either
        fraction = float(exp["fraction"])
        if fraction < 1.0 and experiments.split_arm(int(exp["id"]), trace_id, fraction) != "candidate":
            return
        live_json = experiments.answer_json(answer)
        self._shadow.submit(self._shadow_answer, exp, candidate, answer.question, live_json, trace_id, store)

    def _shadow_answer(
        self,
        exp: dict[str, Any],
        candidate: Collection,
        question: str,
        live_json: dict[str, Any],
        trace_id: str,
        store: MonitorStore,
    ) -> None:
        try:
            run = candidate.start(question, k=None, lang=None, generate=True, use_cache=False)
            cand_json = experiments.answer_json(run.finish())
            reference = self.references().get(experiments.normalize_question(question))
            scores = {
                "live": experiments.judge_answer(live_json, reference),
                "candidate": experiments.judge_answer(cand_json, reference),
            }
            kept = {
                k: cand_json[k]
                for k in ("answer", "citations", "abstained", "reason", "confidence", "support")
            }
            store.add_shadow_answer(
                int(exp["id"]), trace_id, int(candidate.config_version or 0), kept, scores
            )
        except Exception:
            log.exception("shadow answer for trace %s failed", trace_id)

    def references(self) -> dict[str, EvalItem]:
        """The eval set's items with ground truth, re-read when the file changes."""
        path: Path = eval_set_path(self.project)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return {}
        if mtime != self._references[0]:
            try:
                self._references = (mtime, experiments.reference_index(load_eval_set(path)))
            except Exception:
                log.exception("could not read the eval set %s", path)
                return self._references[1]
        return self._references[1]

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for the queued shadow answers (tests; shutdown)."""
        self._shadow.submit(lambda: None).result(timeout=timeout)

    def close(self) -> None:
        self._closed.set()
        self._shadow.shutdown(wait=False, cancel_futures=True)
