"""The deployment workflow over config versions: start an online comparison (shadow or split), report
it with the verdict, compare offline on the eval set, and promote with the evidence recorded."""

from __future__ import annotations

from typing import Any

from llmpilot.errors import LlmpilotError
from llmpilot.evaluation.bootstrap import paired_bootstrap
from llmpilot.monitoring import experiments
from llmpilot.monitoring.evalset import eval_set_path, load_eval_set
from llmpilot.monitoring.store import MonitorStore
from llmpilot.monitoring.versions import ensure_live_version, get_version, project_for, promote
from llmpilot.project import Project


def start_experiment(project: Project, candidate_id: int, *, mode: str, fraction: float = 0.1) -> int:
    """Start comparing `candidate_id` with the live version on live traffic (a running server picks it
    up within seconds); any running experiment is stopped."""
    if mode not in experiments.MODES:
        raise LlmpilotError(f"--mode must be one of {', '.join(experiments.MODES)}, got {mode!r}")
    if not 0.0 < fraction <= 1.0:
        raise LlmpilotError(f"--fraction must be in (0, 1], got {fraction}")
    live = ensure_live_version(project)
    candidate = get_version(project, candidate_id)
    if candidate.id == live.id:
        raise LlmpilotError(f"config version {candidate_id} is the live one; add a candidate first")
    return MonitorStore(project.store).start_experiment(candidate.id, live.id, mode, fraction)


def current_experiment(project: Project, experiment_id: int | None = None) -> dict[str, Any]:
    monitor = MonitorStore(project.store)
    found = monitor.experiment(experiment_id) if experiment_id else monitor.running_experiment()
    if found is None:
        what = f"experiment {experiment_id}" if experiment_id else "running experiment"
        raise LlmpilotError(f"no {what} (start one with `llmpilot deploy shadow|split CANDIDATE`)")
    return found


def experiment_report(project: Project, experiment_id: int | None = None) -> dict[str, Any]:
    """The experiment with its judged pairs (shadow) or arms (split) and the verdict."""
    exp = current_experiment(project, experiment_id)
    monitor = MonitorStore(project.store)
    alpha = project.config.monitoring.alpha
    path = eval_set_path(project)
    references = experiments.reference_index(load_eval_set(path) if path.exists() else [])
    if exp["mode"] == "shadow":
        pairs = monitor.shadow_pairs(exp["id"])
        judged = [(p["scores"]["live"]["judge"], p["scores"]["candidate"]["judge"]) for p in pairs]
        decision = experiments.decide(judged, alpha=alpha)
        rows = [
            {
                "trace_id": p["trace_id"],
                "question": p["question"],
                "live": p["scores"]["live"],
                "candidate": p["scores"]["candidate"],
            }
            for p in pairs
        ]
    else:
        traces = monitor.experiment_traces(exp["id"])
        scored = []
        for t in traces:
            reference = references.get(experiments.normalize_question(t["question"]))
            scores = experiments.judge_answer(t, reference)
            scored.append(
                {"trace_id": t["trace_id"], "question": t["question"], "variant": t["variant"], **scores}
            )
        live = [r["judge"] for r in scored if r["variant"] != "candidate"]
        cand = [r["judge"] for r in scored if r["variant"] == "candidate"]
        decision = experiments.decide_split(
            live, cand, alpha=alpha, feedback=experiments.feedback_counts(traces)
        )
        rows = scored
    return {"experiment": exp, **decision, "rows": rows}


def stop_experiment(project: Project, experiment_id: int | None = None) -> dict[str, Any]:
    report = experiment_report(project, experiment_id)
    summary = {k: report[k] for k in ("verdict", "evidence")}
    MonitorStore(project.store).stop_experiment(report["experiment"]["id"], summary)
    return report


def compare_offline(project: Project, candidate_id: int) -> dict[str, Any]:
    """The live and the candidate version on the eval set, item by item: per metric both means and the
    paired bootstrap of candidate - live."""
    from llmpilot.monitoring.reevaluate import evaluate_eval_set

    live = ensure_live_version(project)
    candidate = get_version(project, candidate_id)
    rows_live = evaluate_eval_set(project_for(project, live), collection=project.root.name)
    rows_cand = evaluate_eval_set(project_for(project, candidate), collection=project.root.name)
    by_id = {r["id"]: r for r in rows_live}
    paired = [(by_id[r["id"]], r) for r in rows_cand if r["id"] in by_id]
    metrics: dict[str, Any] = {}
    names = sorted({k for _, r in paired for k, v in r["scores"].items() if isinstance(v, int | float)})
    for name in names:
        both = [
            (a["scores"][name], b["scores"][name])
            for a, b in paired
            if name in a["scores"] and name in b["scores"]
        ]
        if not both:
            continue
        test = paired_bootstrap([b for _, b in both], [a for a, _ in both])
        metrics[name] = {
            "live": sum(a for a, _ in both) / len(both),
            "candidate": sum(b for _, b in both) / len(both),
            "n": len(both),
            **test,
        }
    return {
        "live_version": live.id,
        "candidate_version": candidate.id,
        "metrics": metrics,
        "n_items": len(paired),
    }


def promote_with_evidence(
    project: Project,
    version_id: int,
    *,
    actor: str,
    experiment_id: int | None = None,
    offline: dict[str, Any] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Promote after the evidence says so: the experiment's verdict must be "promote" unless `force`
    (the evidence — verdict, tests, offline comparison — is recorded with the deployment either way)."""
    evidence: dict[str, Any] = {}
    if experiment_id is not None or MonitorStore(project.store).running_experiment() is not None:
        report = experiment_report(project, experiment_id)
        if report["experiment"]["candidate_version"] != version_id:
            raise LlmpilotError(
                f"experiment {report['experiment']['id']} compares version "
                f"{report['experiment']['candidate_version']}, not {version_id}"
            )
        evidence = {
            "experiment": report["experiment"]["id"],
            "verdict": report["verdict"],
            **report["evidence"],
        }
        if report["verdict"] != "promote" and not force:
            raise LlmpilotError(
                f"the online comparison says {report['verdict']!r} for version {version_id} "
                "(see `llmpilot deploy report`); use --force to promote anyway"
            )
        MonitorStore(project.store).stop_experiment(
            report["experiment"]["id"], {"verdict": report["verdict"], "evidence": report["evidence"]}
        )
    elif not force:
        raise LlmpilotError(
            "no online comparison for this version: run `llmpilot deploy shadow` (or `split`) first, "
            "or use --force"
        )
    if offline is not None:
        evidence["offline"] = offline
    evidence["forced"] = force
    version, previous = promote(project, version_id, actor=actor, evidence=evidence)
    return {"version": version.as_dict(), "previous_version": previous, "evidence": evidence}
