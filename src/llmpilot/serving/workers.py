"""`llmpilot serve --workers N`: N uvicorn worker processes on one socket, each with its own app.

uvicorn starts each worker with a fresh interpreter (spawn) and builds its app from the import
string `llmpilot.serving.workers:app_from_env` (an app factory). The serve arguments reach the workers
as JSON in an environment variable, so every worker builds the very app one `llmpilot serve` would:
its own pipelines (models loaded once per worker: memory x N), its own deployment poller and
telemetry threads. What must be the same for all of them (keys, sessions, rate limits, traces,
feedback, config versions) lives in the store.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from llmpilot.errors import LlmpilotError
from llmpilot.serving.server import CollectionSpec, build_app, open_collection
from llmpilot.serving.state import ServeSettings

log = logging.getLogger("llmpilot.serving")

#: The environment variable the parent hands the serve arguments to its workers in (JSON).
SERVE_ARGS_ENV = "LLMPILOT_SERVE_ARGS"
#: The app factory uvicorn's workers import.
FACTORY = "llmpilot.serving.workers:app_from_env"
#: uvicorn's exit status for "failed before serving": its supervisor then stops instead of restarting.
STARTUP_FAILURE = 3
#: Seconds a worker may take to answer the supervisor's ping (uvicorn's default, 5, is short for a
#: worker busy loading its models).
HEALTHCHECK_TIMEOUT_S = 30


def encode_args(specs: Sequence[CollectionSpec], settings: ServeSettings, failure_file: Path) -> str:
    return json.dumps(
        {
            "specs": [
                {
                    "location": str(spec.location.resolve()),
                    "tenant": spec.tenant,
                    "name": spec.name,
                    "overrides": list(spec.overrides),
                }
                for spec in specs
            ],
            "settings": {
                **asdict(settings),
                "reports_dirs": [str(p.resolve()) for p in settings.reports_dirs],
            },
            "failure_file": str(failure_file),
        }
    )


def decode_args(text: str) -> tuple[list[CollectionSpec], ServeSettings, Path]:
    data: dict[str, Any] = json.loads(text)
    specs = [
        CollectionSpec(Path(s["location"]), s["tenant"], s["name"], tuple(s["overrides"]))
        for s in data["specs"]
    ]
    raw = data["settings"]
    settings = ServeSettings(
        **{
            **raw,
            "cors_origins": tuple(raw["cors_origins"]),
            "reports_dirs": tuple(Path(p) for p in raw["reports_dirs"]),
        }
    )
    return specs, settings, Path(data["failure_file"])


def app_from_env() -> FastAPI:
    """The app factory each worker calls. A worker that cannot build its app says why in one line
    (also into the parent's failure file) and exits with uvicorn's startup-failure status, so the
    supervisor stops rather than restarting it forever."""
    raw = os.environ.get(SERVE_ARGS_ENV)
    if not raw:
        sys.exit(f"{SERVE_ARGS_ENV} is not set: start workers with `llmpilot serve --workers N`")
    specs, settings, failure_file = decode_args(raw)
    try:
        return build_app(specs, settings)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        message = lines[0] if isinstance(exc, LlmpilotError) and lines else f"{type(exc).__name__}: {exc}"
        message = message.splitlines()[0]
        with failure_file.open("a", encoding="utf-8") as out:
            out.write(message + "\n")
        log.error("worker %d could not start: %s", os.getpid(), message)
        sys.stderr.flush()
        # Exit at once: during a normal interpreter shutdown the worker no longer answers the
        # supervisor's ping, which then waits out HEALTHCHECK_TIMEOUT_S before it notices the failure.
        os._exit(STARTUP_FAILURE)


def prepare(specs: Sequence[CollectionSpec]) -> None:
    """Once, in the parent, before any worker starts: settings errors show here as one line, and the
    live config version is registered here, so workers starting at once do not each register one."""
    from llmpilot.monitoring.versions import ensure_live_version

    for spec in specs:
        project = open_collection(spec).pipeline.project
        try:
            project.store.counts()
            ensure_live_version(project, by="llmpilot serve")
        finally:
            project.close()


def run_workers(
    specs: Sequence[CollectionSpec],
    settings: ServeSettings,
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
) -> None:
    """Serve with `workers` processes; raises LlmpilotError with a worker's reason when they could
    not start."""
    import uvicorn

    if workers < 1:
        raise LlmpilotError(f"--workers must be at least 1, got {workers}")
    if not specs:
        raise LlmpilotError("nothing to serve: give a project with -p")
    prepare(specs)
    with tempfile.TemporaryDirectory(prefix="llmpilot-serve-") as folder:
        failure_file = Path(folder) / "failures.txt"
        os.environ[SERVE_ARGS_ENV] = encode_args(specs, settings, failure_file)
        try:
            # As with one worker: SIGTERM waits up to 5 s for answers in flight, then cancels them.
            uvicorn.run(
                FACTORY,
                factory=True,
                host=host,
                port=port,
                log_level=log_level,
                workers=workers,
                timeout_graceful_shutdown=5,
                timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT_S,
            )
        finally:
            del os.environ[SERVE_ARGS_ENV]
        failures = failure_file.read_text(encoding="utf-8").splitlines() if failure_file.exists() else []
    if failures:
        raise LlmpilotError(f"the serve workers could not start: {failures[0]}")
