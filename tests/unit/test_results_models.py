"""results.json as pydantic models: a file written before the models existed still loads, renders
and reads back the same; the models' own JSON round-trips (NaN included); bad files get a clear
error.

The fixture is the results.json that `llmpilot optimize` wrote at the commit before the models
(halving, eta 2, min 4 queries, on the tiny dataset of tests/integration/test_optimize.py), kept
byte for byte."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from llmpilot.errors import LlmpilotError
from llmpilot.optimization.report import build_html
from llmpilot.optimization.results import MetricValue, StudyResult, TrialResult
from llmpilot.optimization.select import aggregate
from llmpilot.optimization.settings import SearchSettings

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "optimize" / "results_before_models.json"


def old_raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(OLD.read_text(encoding="utf-8"))
    return data


def without(data: dict[str, Any], *, created: bool = True) -> dict[str, Any]:
    """The parts whose JSON must not change: all but `created` (datetime formatting) and the trials'
    configs (PipelineConfig gains fields with defaults over time)."""
    out = {k: v for k, v in data.items() if k != "created" or not created}
    out["trials"] = [{k: v for k, v in t.items() if k != "config"} for t in data["trials"]]
    return out


def test_results_json_written_before_the_models_loads_typed() -> None:
    raw = old_raw()
    study = StudyResult.load(OLD)
    assert study.strategy == "halving" and study.settings == SearchSettings(
        strategy="halving", eta=2, min_queries=4
    )
    assert len(study.trials) == len(raw["trials"]) == 17
    assert sorted({t.n_queries for t in study.trials}) == [4, 8, 14]
    best = study.best_trial()
    assert best.complete and best.trial_id == raw["best"]["trial_id"]
    raw_best = next(t for t in raw["trials"] if t["trial_id"] == raw["best"]["trial_id"] and t["complete"])
    assert best.metrics["ndcg@10"] == MetricValue(**raw_best["metrics"]["ndcg@10"])
    assert best.mean("ndcg@10") == pytest.approx(raw_best["metrics"]["ndcg@10"]["mean"])
    assert best.config.retrieval.mode == raw_best["config"]["retrieval"]["mode"]
    assert study.significance is not None and study.significance.p_value == raw["significance"]["p_value"]
    assert study.cheapest_not_worse is not None
    assert study.cheapest_not_worse.trial_id == raw["cheapest_not_worse"]["trial_id"]
    assert study.worst_queries[0].retrieved[0].doc_id == raw["worst_queries"][0]["retrieved"][0]["doc_id"]
    assert study.compute.this_run == raw["compute"]["this_run"]


def test_the_models_write_the_same_results_json_layout() -> None:
    raw = old_raw()
    study = StudyResult.load(OLD)
    again = json.loads(study.model_dump_json())
    assert without(again) == without(raw)
    assert again["created"].startswith(raw["created"][:19])
    # Written and read back by the models: equal.
    assert StudyResult.model_validate_json(study.model_dump_json(indent=2)) == study


def test_report_renders_from_an_old_results_json(tmp_path: Path) -> None:
    page = build_html(StudyResult.load(OLD))
    raw = old_raw()
    complete = {t["trial_id"] for t in raw["trials"] if t["complete"]}
    leaderboard = page.split('id="leaderboard-table"')[1].split("</table>")[0]
    assert all(f'data-trial="{tid}"' in leaderboard for tid in complete)
    assert "configs stopped early" in page
    # A dict read from disk renders the same page as the loaded model.
    assert build_html(raw).count("data-trial=") == page.count("data-trial=")


def test_nan_scores_round_trip_as_numbers() -> None:
    # json.dumps wrote NaN; the models must too (a null would not read back as a float).
    study = StudyResult.load(OLD)
    trial = study.trials[0]
    qid = next(iter(trial.per_query["ndcg@10"]))
    trial.per_query["ndcg@10"][qid] = math.nan
    text = study.model_dump_json()
    assert "NaN" in text
    back = StudyResult.model_validate_json(text)
    assert math.isnan(back.trials[0].per_query["ndcg@10"][qid])


def test_a_trial_row_keeps_its_fields_but_not_process_notes() -> None:
    trial = StudyResult.load(OLD).trials[0]
    trial.extra = {"resumed": True}
    data = json.loads(trial.model_dump_json(exclude={"metrics"}))
    assert "extra" not in data and "metrics" not in data
    assert TrialResult.model_validate(data).per_query == trial.per_query


def test_a_file_that_is_not_a_results_json_is_named(tmp_path: Path) -> None:
    raw = old_raw()
    del raw["trials"][3]["per_query"]
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(LlmpilotError, match=r"results\.json: not a results\.json .*trials\.3\.per_query"):
        StudyResult.load(bad)
    with pytest.raises(LlmpilotError, match=r"trials\.3\.per_query"):
        build_html(raw)


def test_aggregate_leaves_out_a_metric_no_query_was_scored_on() -> None:
    # An answer metric on a query subset where no query has a reference answer: no mean, no CI
    # (this raised ValueError from the bootstrap after the trials had run).
    trial = StudyResult.load(OLD).trials[0]
    trial.per_query["rougeL"] = {}
    metrics = aggregate(trial)
    assert "rougeL" not in metrics
    assert metrics["ndcg@10"].n == trial.n_queries
