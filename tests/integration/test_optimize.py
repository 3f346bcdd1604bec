"""The optimizer on a small real dataset written here (Korean + English), model-free embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmpilot.cli import app
from llmpilot.config import load_config
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.optimization.evaluate import Evaluator
from llmpilot.optimization.results import StudyResult, TrialResult
from llmpilot.optimization.search import Search, SearchSettings
from llmpilot.optimization.space import SearchSpace

TOPICS_KO = [
    "배터리 보증",
    "설치 비용",
    "반품 정책",
    "충전 속도",
    "안전 점검",
    "앱 연결",
    "전기 요금",
    "정전 대비",
]
TOPICS_EN = ["solar panel", "inverter fault", "warranty claim", "grid outage", "app pairing", "heat pump"]


def write_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    corpus, queries, qrels = [], [], []
    for i, topic in enumerate(TOPICS_KO):
        corpus.append(
            {
                "id": f"ko-{i}",
                "title": topic,
                "text": f"{topic}에 대한 안내입니다. 문서 번호 {i}번. "
                f"{topic} 관련 질문은 고객센터로 문의하세요. 기타 내용 {i * 7}.",
            }
        )
        queries.append({"id": f"qko-{i}", "text": f"{topic}은 어떻게 되나요?"})
        qrels.append({"query_id": f"qko-{i}", "doc_id": f"ko-{i}", "score": 1})
    for i, topic in enumerate(TOPICS_EN):
        corpus.append(
            {
                "id": f"en-{i}",
                "title": topic.title(),
                "text": f"All about the {topic}. Document {i}. "
                f"Questions about the {topic} go to support; misc note {i * 3}.",
            }
        )
        queries.append({"id": f"qen-{i}", "text": f"what should I know about the {topic}"})
        qrels.append({"query_id": f"qen-{i}", "doc_id": f"en-{i}", "score": 1})
    for i in range(10):  # distractors
        corpus.append(
            {"id": f"noise-{i}", "title": "", "text": f"무관한 문서 {i}. Unrelated filler text number {i}."}
        )
    for name, rows in (("corpus", corpus), ("queries", queries), ("qrels", qrels)):
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    return folder


SPACE = {
    "transforms": {"pii": [], "dedup_exact": False, "dedup_near": False},
    "chunking": {"size": 400, "overlap": 0},
    "embedder": {"name": "hashing"},
    "index": {"keyword": {"tokenizer": ["auto", "whitespace"]}},
    "retrieval": {
        "mode": ["keyword", "dense", "hybrid"],
        "fusion": {"method": ["rrf", "convex"], "weight": [0.2, 0.5]},
    },
}


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, SearchSpace, Path]:
    data = write_dataset(tmp_path / "tiny")
    return data, SearchSpace.from_dict(SPACE), tmp_path / "work"


def run(
    data: Path, space: SearchSpace, work: Path, **settings: object
) -> tuple[list[TrialResult], Evaluator]:
    evaluator = Evaluator(load_dataset(data), data, work)
    search = Search(space, evaluator, SearchSettings(**settings))  # type: ignore[arg-type]
    return search.run(), evaluator


def test_grid_evaluates_every_distinct_config_on_all_queries(setup: tuple[Path, SearchSpace, Path]) -> None:
    data, space, work = setup
    assert len(space.candidates()) == 9  # keyword 2 + dense 1 + hybrid 2 x (rrf + 2 convex weights)
    results, evaluator = run(data, space, work, strategy="grid")
    assert len(results) == 9 and all(r.complete and r.n_queries == 14 for r in results)
    # One chunk set, one embedder: the corpus was embedded once for all trials.
    assert evaluator.meter.passages_embedded == 24
    assert evaluator.meter.queries_embedded == 14
    best = max(results, key=lambda r: r.mean("ndcg@10"))
    assert best.mean("ndcg@10") > 0.8
    evaluator.close()


def test_halving_spends_fewer_query_evaluations_and_keeps_the_best(
    setup: tuple[Path, SearchSpace, Path],
) -> None:
    data, space, work = setup
    grid, grid_eval = run(data, space, work, strategy="grid")
    halving, halving_eval = run(data, space, work / "h", strategy="halving", min_queries=4, eta=3)
    assert halving_eval.meter.query_evaluations < grid_eval.meter.query_evaluations
    rungs = sorted({r.n_queries for r in halving})
    assert rungs == [4, 12, 14]
    final = [r for r in halving if r.complete]
    assert 1 <= len(final) <= 2
    best_grid = max(r.mean("ndcg@10") for r in grid)
    assert max(r.mean("ndcg@10") for r in final) >= best_grid - 0.05
    grid_eval.close()
    halving_eval.close()


def test_greedy_varies_one_parameter_at_a_time(setup: tuple[Path, SearchSpace, Path]) -> None:
    data, space, work = setup
    results, evaluator = run(data, space, work, strategy="greedy")
    assert 0 < len({r.trial_id for r in results}) < len(space.candidates())
    evaluator.close()


def test_killed_search_resumes_from_the_store(setup: tuple[Path, SearchSpace, Path]) -> None:
    data, space, work = setup
    evaluator = Evaluator(load_dataset(data), data, work)
    calls = {"n": 0}

    def flaky(batch):  # type: ignore[no-untyped-def]
        out = []
        for candidate, queries, rung in batch:
            calls["n"] += 1
            if calls["n"] > 4:
                raise KeyboardInterrupt("killed mid-search")
            result = evaluator.evaluate(
                candidate.config, queries, trial_id=candidate.trial_id, params=candidate.params
            )
            result.rung = rung
            out.append(result)
        return out

    with pytest.raises(KeyboardInterrupt):
        Search(space, evaluator, SearchSettings(strategy="grid"), runner=flaky).run()
    evaluator.close()
    # The first batch (up to 8 trials) is saved only when it completes; a kill inside it loses that batch.
    evaluator = Evaluator(load_dataset(data), data, work)
    search = Search(space, evaluator, SearchSettings(strategy="grid"))
    results = search.run()
    assert len(results) == 9
    resumed_before = sum(1 for r in results if r.extra.get("resumed"))
    evaluator.close()
    evaluator = Evaluator(load_dataset(data), data, work)
    again = Search(space, evaluator, SearchSettings(strategy="grid")).run()
    assert all(r.extra.get("resumed") for r in again)  # nothing recomputed the third time
    assert evaluator.meter.trials_evaluated == 0
    assert resumed_before == 0
    evaluator.close()


def old_trial_row(result: TrialResult) -> str:
    """A trial row exactly as `TrialLog.put` wrote it before TrialResult was a pydantic model."""
    return json.dumps(
        {
            "trial_id": result.trial_id,
            "config": result.config.model_dump(mode="json"),
            "params": result.params,
            "n_queries": result.n_queries,
            "rung": result.rung,
            "complete": result.complete,
            "per_query": result.per_query,
            "latency_ms_p50": result.latency_ms_p50,
            "seconds": result.seconds,
            "passages_embedded": result.passages_embedded,
            "generation_ms_p50": result.generation_ms_p50,
            "answers": result.answers,
            "corpus_docs": result.corpus_docs,
            "passages": result.passages,
        },
        ensure_ascii=False,
    )


def test_trials_saved_in_the_old_row_format_still_resume(setup: tuple[Path, SearchSpace, Path]) -> None:
    from sqlalchemy import update

    from llmpilot.store import schema

    data, space, work = setup
    evaluator = Evaluator(load_dataset(data), data, work)
    search = Search(space, evaluator, SearchSettings(strategy="halving", min_queries=4, eta=3))
    first = search.run()
    # Rewrite every saved trial as the previous code wrote it.
    with evaluator.store.transaction() as conn:
        for result in first:
            conn.execute(
                update(schema.trials)
                .where(
                    schema.trials.c.study_id == search.study_id,
                    schema.trials.c.trial_id == result.trial_id,
                    schema.trials.c.n_queries == result.n_queries,
                )
                .values(result_json=old_trial_row(result))
            )
    evaluator.close()
    evaluator = Evaluator(load_dataset(data), data, work)
    again = Search(space, evaluator, SearchSettings(strategy="halving", min_queries=4, eta=3)).run()
    assert evaluator.meter.trials_evaluated == 0  # every trial came from the store
    assert all(r.extra.get("resumed") for r in again)
    key = lambda r: (r.trial_id, r.n_queries)  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, first))
    by_key = {key(r): r for r in first}
    for r in again:
        assert r.model_dump(exclude={"seconds"}) == by_key[key(r)].model_dump(exclude={"seconds"})
    evaluator.close()


def optimize_cli(data: Path, tmp_path: Path, work: Path, *options: str) -> tuple[Path, str]:
    """`llmpilot optimize` on the tiny dataset with SPACE; returns the output folder and the CLI output."""
    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump(SPACE, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    args = ["optimize", "--dataset", str(data), "--space", str(space_file), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--workdir", str(work), "--no-progress", *options])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_cli_writes_best_yaml_results_and_report(
    setup: tuple[Path, SearchSpace, Path], tmp_path: Path
) -> None:
    data, _, work = setup
    out, output = optimize_cli(data, tmp_path, work, "--strategy", "grid")
    best = load_config(out / "best.yaml")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert StudyResult.load(out / "results.json").best_trial().trial_id == results["best"]["trial_id"]
    assert len(results["trials"]) == 9
    top = next(t for t in results["trials"] if t["trial_id"] == results["best"]["trial_id"])
    assert best.retrieval.model_dump(mode="json") == top["config"]["retrieval"]
    assert best.index.model_dump(mode="json") == top["config"]["index"]
    m = top["metrics"]["ndcg@10"]
    assert m["ci_low"] <= m["mean"] <= m["ci_high"]
    assert results["significance"] is not None and 0.0 <= results["significance"]["p_value"] <= 1.0
    assert results["cheapest_not_worse"] is not None
    assert results["worst_queries"] and "retrieved" in results["worst_queries"][0]
    assert "best" in output


@pytest.mark.slow
def test_trials_on_a_real_local_ray_cluster_match_in_process(setup: tuple[Path, SearchSpace, Path]) -> None:
    import ray

    from llmpilot.optimization.distributed import ray_runner

    data, space, work = setup
    local, local_eval = run(data, space, work, strategy="grid")
    local_eval.close()
    evaluator = Evaluator(load_dataset(data), data, work / "ray")
    try:
        search = Search(
            space, evaluator, SearchSettings(strategy="grid"), runner=ray_runner(evaluator, workers=2)
        )
        remote = search.run()
    finally:
        ray.shutdown()
        evaluator.close()
    assert all(r.extra.get("worker") == "ray" for r in remote)
    by_id = {r.trial_id: r for r in local}
    for r in remote:
        assert r.per_query == by_id[r.trial_id].per_query


def test_eval_one_config_on_a_csv_eval_set(tmp_path: Path) -> None:
    rows = [
        ("배터리 보증 기간은?", "10년입니다.", "솔박스 배터리의 보증 기간은 설치일로부터 10년입니다."),
        ("설치비는 얼마인가요?", "45만 원입니다.", "기본 설치비는 부가세 포함 45만 원입니다."),
        (
            "When is support open on Saturday?",
            "10:00 to 14:00.",
            "Phone support is open 10:00-14:00 on Saturday.",
        ),
        ("How much does the SolBox 10 weigh?", "98 kg.", "The SolBox 10 weighs 98 kg and delivers 5 kW."),
    ]
    csv_file = tmp_path / "qa.csv"
    csv_file.write_text(
        "question,answer,context\n" + "".join(f'"{q}","{a}","{c}"\n' for q, a, c in rows), encoding="utf-8"
    )
    config = tmp_path / "cfg.yaml"
    config.write_text(
        yaml.safe_dump({"transforms": {"pii": []}, "retrieval": {"mode": "keyword"}}), encoding="utf-8"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--dataset",
            str(csv_file),
            "--config",
            str(config),
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert len(results["trials"]) == 1 and results["runner_up"] is None
    assert results["trials"][0]["metrics"]["ndcg@10"]["mean"] == pytest.approx(1.0)
    assert "ndcg@10" in result.output
