"""report.html from results.json dicts: self-contained, offline, escaped, Korean intact.

`make_results` builds realistic results (the results.json layout `llmpilot optimize` writes, as a
dict) from per-query scores with real bootstrap CIs and paired tests; the browser test reuses it.
`build_html` validates such a dict into a `StudyResult`, as it does a results.json read from disk.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs

from llmpilot.errors import LlmpilotError
from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from llmpilot.optimization.report import build_html, fmt, param_keys, render_report

KO_QUERIES = [
    "배터리 보증 기간은 얼마나 되나요?",
    "설치 비용에 부가세가 포함되어 있나요?",
    "정전이 되면 배터리가 자동으로 전환되나요?",
    "앱 연결이 자꾸 끊어지는 이유는 무엇인가요?",
    "반품하려면 어떤 서류가 필요한가요?",
    "겨울철 충전 속도가 느려지는 원인은?",
]
EN_QUERIES = [
    "How long is the battery warranty?",
    "What does the inverter fault code E42 mean?",
    "Can I pair two panels with one app account?",
    "Is the heat pump covered by the grid outage plan?",
]
HOSTILE_QUERY = '<script>alert("x")</script> 배터리 <b class="injected">보증</b> & "요금" 문의'
N_QUERIES = 40


def _queries() -> list[tuple[str, str]]:
    texts = [*KO_QUERIES, *EN_QUERIES]
    out = []
    for i in range(N_QUERIES):
        base = texts[i % len(texts)]
        out.append((f"q{i:03d}", base if i < len(texts) else f"{base} ({i})"))
    return out


def _space() -> list[dict[str, Any]]:
    """Varied params as the optimizer records them: fusion keys exist only for hybrid retrieval."""
    out = []
    for size, embedder, tokenizer, mode in itertools.product(
        [400, 800], ["e5-small", "minilm"], ["ko-morph", "ko-bigram"], ["keyword", "dense", "hybrid"]
    ):
        if mode == "hybrid":
            for weight in (0.2, 0.5):
                out.append(
                    {
                        "chunking.size": size,
                        "embedder.name": embedder,
                        "index.keyword.tokenizer": tokenizer,
                        "retrieval.mode": mode,
                        "retrieval.fusion.weight": weight,
                    }
                )
        else:
            out.append(
                {
                    "chunking.size": size,
                    "embedder.name": embedder,
                    "index.keyword.tokenizer": tokenizer,
                    "retrieval.mode": mode,
                }
            )
    return out


def _skill(params: dict[str, Any]) -> float:
    base = {"keyword": 0.80, "dense": 0.76, "hybrid": 0.86}[params["retrieval.mode"]]
    base += 0.03 if params["index.keyword.tokenizer"] == "ko-morph" else 0.0
    base += 0.02 if params["embedder.name"] == "e5-small" else 0.0
    base -= 0.01 if params["chunking.size"] == 800 else 0.0
    return base + (0.01 if params.get("retrieval.fusion.weight") == 0.5 else 0.0)


def _metrics(per_query: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for metric, values in per_query.items():
        ordered = [values[q] for q in sorted(values)]
        mean, low, high = bootstrap_ci(ordered, n_resamples=200)
        out[metric] = {"mean": mean, "ci_low": low, "ci_high": high, "n": len(ordered)}
    return out


def _trial(
    tid: str, params: dict[str, Any], queries: list[tuple[str, str]], rung: int, complete: bool, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    skill = _skill(params)
    ndcg = {qid: min(1.0, max(0.0, rng.gauss(skill, 0.15))) for qid, _ in queries}
    per_query = {
        "ndcg@10": ndcg,
        "recall@10": {q: min(1.0, v + 0.1) for q, v in ndcg.items()},
        "mrr@10": {q: max(0.0, v - 0.03) for q, v in ndcg.items()},
    }
    latency = {"keyword": 1.5, "dense": 25.0, "hybrid": 140.0}[params["retrieval.mode"]]
    config = {
        "chunking": {"method": "recursive", "size": params["chunking.size"], "overlap": 50},
        "embedder": {"name": params["embedder.name"]},
        "index": {"keyword": {"tokenizer": params["index.keyword.tokenizer"]}},
        "retrieval": {
            "mode": params["retrieval.mode"],
            "fusion": {"method": "convex", "weight": params.get("retrieval.fusion.weight", 0.5)},
            "top_k": 10,
        },
        "prompt": {"template": "답변은 한국어로: {context}"},
    }
    return {
        "trial_id": tid,
        "config": config,
        "params": params,
        "n_queries": len(queries),
        "rung": rung,
        "complete": complete,
        "metrics": _metrics(per_query),
        "per_query": per_query,
        "latency_ms_p50": latency * (1.0 + 0.1 * rng.random()),
        "seconds": 0.02 * len(queries),
        "passages_embedded": 0 if params["retrieval.mode"] == "keyword" else 420,
    }


def _worst(best: dict[str, Any], texts: dict[str, str]) -> list[dict[str, Any]]:
    scores = best["per_query"]["ndcg@10"]
    out = []
    for n, qid in enumerate(sorted(scores, key=lambda q: (scores[q], q))[:5]):
        text = HOSTILE_QUERY if n == 1 else texts[qid]
        retrieved = [
            {
                "rank": rank,
                "doc_id": f"doc-{qid}-{rank}",
                "title": "솔박스 배터리 보증 안내" if rank % 2 else "Inverter fault codes",
                "snippet": (
                    "보증 기간은 설치일로부터 10년이며, <i>정전</i> 시 자동 전환됩니다."
                    if rank % 2
                    else "Code E42 means the DC input is out of range; check the panel string."
                ),
                "score": 1.0 / (rank + 1),
                "relevant": rank == 3 and n != 0,
            }
            for rank in range(1, 6)
        ]
        relevant = [f"doc-{qid}-3"] if n != 0 else [f"doc-{qid}-missing"]
        out.append(
            {
                "query_id": qid,
                "text": text,
                "score": scores[qid],
                "relevant": relevant,
                "retrieved": retrieved,
            }
        )
    return out


def make_results(n_trials: int = 30, strategy: str = "grid") -> dict[str, Any]:
    """A results.json dict: `grid` scores n_trials configs on all queries; `halving` scores them on 10
    queries, then the best third on 20, then the best of those on all (partial trials included)."""
    queries = _queries()
    texts = dict(queries)
    space = _space()[:n_trials]
    ids = [f"t{i:03d}" for i in range(len(space))]
    trials: list[dict[str, Any]] = []
    if strategy == "halving":
        alive = list(zip(ids, space, strict=True))
        for rung, size in enumerate((10, 20, N_QUERIES)):
            complete = size == N_QUERIES
            scored = [_trial(t, p, queries[:size], rung, complete, seed=i) for i, (t, p) in enumerate(alive)]
            trials.extend(scored)
            ranked = sorted(scored, key=lambda t: -t["metrics"]["ndcg@10"]["mean"])
            keep = {t["trial_id"] for t in ranked[: max(2, len(alive) // 3)]}
            alive = [(t, p) for t, p in alive if t in keep]
    else:
        trials = [
            _trial(t, p, queries, 0, True, seed=i) for i, (t, p) in enumerate(zip(ids, space, strict=True))
        ]
    final = sorted(
        (t for t in trials if t["complete"]),
        key=lambda t: (-t["metrics"]["ndcg@10"]["mean"], t["latency_ms_p50"]),
    )
    best = final[0]
    runner_up = final[1] if len(final) > 1 else None
    significance, cheapest = None, {"trial_id": best["trial_id"], "latency_ms_p50": best["latency_ms_p50"]}
    if runner_up:
        qids = sorted(best["per_query"]["ndcg@10"])
        test = paired_bootstrap(
            [best["per_query"]["ndcg@10"][q] for q in qids],
            [runner_up["per_query"]["ndcg@10"][q] for q in qids],
            n_resamples=300,
        )
        significance = {"metric": "ndcg@10", **test, "significant": test["p_value"] < 0.05}
        cheap = min(final, key=lambda t: t["latency_ms_p50"])
        cheapest = {
            "trial_id": cheap["trial_id"],
            "latency_ms_p50": cheap["latency_ms_p50"],
            "p_value": 0.061,
        }
    compute = {
        "trials_evaluated": len(trials),
        "query_evaluations": sum(t["n_queries"] for t in trials),
        "trial_seconds": round(sum(t["seconds"] for t in trials), 3),
        "passages_embedded": 1680,
        "queries_embedded": 80,
        "answers_generated": 0,
    }
    return {
        "dataset": "autorag-ko",
        "dataset_dir": "/data/autorag-ko",
        "space_file": "examples/space-ko.yaml",
        "strategy": strategy,
        "settings": {"strategy": strategy, "primary_metric": "ndcg@10", "eta": 3, "answer_metrics": []},
        "primary_metric": "ndcg@10",
        "created": "2026-11-25T08:00:00+00:00",
        "seconds": 42.5,
        "compute": {**compute, "this_run": {k: v for k, v in compute.items() if k != "trial_seconds"}},
        "candidates": len(space),
        "trials": trials,
        "best": {"trial_id": best["trial_id"], "n_queries": best["n_queries"], "params": best["params"]},
        "runner_up": {"trial_id": runner_up["trial_id"]} if runner_up else None,
        "significance": significance,
        "cheapest_not_worse": cheapest if runner_up else None,
        "worst_queries": _worst(best, texts),
    }


def _scripts_and_links(page: str) -> list[str]:
    return re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", page, flags=re.IGNORECASE)


def _assert_self_contained(page: str) -> None:
    """No tag loads anything, and outside the inlined plotly bundle (whose JS source mentions URLs in
    strings it never fetches here) there is no URL at all."""
    tags = _scripts_and_links(page)
    assert all("src=" not in t and "href=" not in t for t in tags), tags
    ours = page.replace(get_plotlyjs(), "")
    assert len(ours) < len(page) / 4
    assert not re.search(r"https?:|//cdn|@import|url\(", ours, flags=re.IGNORECASE), re.findall(
        r".{60}https?:.{60}", ours
    )


@pytest.mark.parametrize("n_trials", [1, 30])
def test_report_is_self_contained_utf8_with_korean(tmp_path: Path, n_trials: int) -> None:
    results = make_results(n_trials)
    out = render_report(results, tmp_path / "sub" / "report.html")
    raw = out.read_bytes()
    page = raw.decode("utf-8")  # strict: the file is valid UTF-8
    assert '<meta charset="utf-8">' in page and "Noto Sans CJK KR" in page
    _assert_self_contained(page)
    # The plotly bundle is inlined exactly once, however many charts there are.
    assert page.count(get_plotlyjs()[:2000]) == 1
    assert page.count("plotly.js v") == 1
    # CI chart; with 30 trials also 5 effect plots and latency vs quality.
    assert page.count("Plotly.newPlot") == (1 if n_trials == 1 else 7)
    # Korean query texts from the worst queries appear verbatim (not as entities or mojibake).
    korean = [q["text"] for q in results["worst_queries"] if q["text"] != HOSTILE_QUERY]
    assert any(re.search("[가-힣]", t) for t in korean)
    for text in korean:
        assert text in page
    assert "솔박스 배터리 보증 안내" in page


def test_single_trial_report_has_no_comparison(tmp_path: Path) -> None:
    results = make_results(1)
    assert results["significance"] is None and results["runner_up"] is None
    page = render_report(results, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "no runner-up to test it against" in page
    assert page.count('data-trial="t000"') == 1
    assert 'id="effects"' not in page and 'id="tradeoff"' not in page  # nothing to compare
    assert "stopped early" not in page


def test_thirty_trial_leaderboard_ranks_by_primary_metric(tmp_path: Path) -> None:
    results = make_results(30)
    page = build_html(results)
    table = page.split('id="leaderboard-table"')[1].split("</table>")[0]
    order = re.findall(r'data-trial="(t\d+)"', table)
    assert len(order) == 30 and order[0] == results["best"]["trial_id"]
    means = {t["trial_id"]: t["metrics"]["ndcg@10"]["mean"] for t in results["trials"]}
    assert [means[t] for t in order] == sorted(means.values(), reverse=True)
    # Every varied parameter has a column and an effect plot; fusion weight shows "–" when not used.
    for header in ("size", "name", "tokenizer", "mode", "weight"):
        assert f">{header}</th>" in table
    assert page.count('data-param="') == 5
    assert "–" in table
    # The verdict: best with CI, the paired test with its p-value, the cheapest not worse.
    verdict = page.split('id="verdict"')[1].split("</section>")[0]
    best = next(t for t in results["trials"] if t["trial_id"] == results["best"]["trial_id"])
    assert fmt(best["metrics"]["ndcg@10"]["mean"]) in verdict
    assert fmt(best["metrics"]["ndcg@10"]["ci_low"]) in verdict
    sig = results["significance"]
    assert ("Significantly better" if sig["significant"] else "Not significantly better") in verdict
    assert "p = " in verdict or "p &lt; 0.001" in verdict
    assert "Cheapest config not significantly worse" in verdict and "p = 0.061" in verdict


def test_halving_trials_stopped_early_are_listed_apart(tmp_path: Path) -> None:
    results = make_results(24, strategy="halving")
    page = build_html(results)
    final_ids = {t["trial_id"] for t in results["trials"] if t["complete"]}
    all_ids = {t["trial_id"] for t in results["trials"]}
    leaderboard = page.split('id="leaderboard-table"')[1].split("</table>")[0]
    stopped = page.split('id="stopped-table"')[1].split("</table>")[0]
    assert set(re.findall(r'data-trial="(t\d+)"', leaderboard)) == final_ids
    stopped_ids = re.findall(r'data-trial="(t\d+)"', stopped)
    assert sorted(stopped_ids) == sorted(all_ids - final_ids)  # each once, at its last rung
    assert f"{len(all_ids - final_ids)} configs stopped early" in page
    # Effects and the latency trade-off come from the first rung, where all 24 configs met the same
    # 10 queries, not from the 2 complete configs.
    assert page.count('data-param="') == 5
    assert "one of the 24 configs scored on the same first 10 queries" in page
    assert "ndcg@10 on the first 10 queries" in page


def test_every_string_from_results_is_escaped(tmp_path: Path) -> None:
    results = make_results(6)
    results["dataset"] = "<img src=x onerror=alert(1)>"
    results["trials"][0]["params"]["retrieval.mode"] = "<i>hybrid-x</i>"
    page = render_report(results, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page
    assert '<b class="injected">' not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b class=&#34;injected&#34;&gt;보증&lt;/b&gt;" in page
    assert "&lt;i&gt;정전&lt;/i&gt;" in page  # snippets too
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    # The param value too: escaped in the tables, and in chart labels (plotly renders some tags in text).
    ours = page.replace(get_plotlyjs(), "")
    assert "&lt;i&gt;hybrid-x&lt;/i&gt;" in ours
    assert "<i>hybrid-x" not in ours and "\\u003ci\\u003ehybrid-x" not in ours
    _assert_self_contained(page)


def test_relevant_hits_are_highlighted_and_misses_called_out() -> None:
    results = make_results(4)
    page = build_html(results)
    worst = page.split('id="worst"')[1]
    assert worst.count('<tr class="hit">') == 4  # rank 3 is relevant in 4 of the 5 worst queries
    assert worst.count("no relevant document in the top 5") == 1


def test_results_without_a_complete_trial_give_a_clear_error() -> None:
    results = make_results(3, strategy="halving")
    results["trials"] = [t for t in results["trials"] if not t["complete"]]
    with pytest.raises(LlmpilotError, match="complete=true"):
        build_html(results)


def test_short_param_names_stay_unique() -> None:
    params = [{"index.keyword.tokenizer": "ko", "chunking.tokenizer": "kiwi", "retrieval.mode": "x"}]
    assert [(k.key, k.short) for k in param_keys(params)] == [
        ("index.keyword.tokenizer", "keyword.tokenizer"),
        ("chunking.tokenizer", "chunking.tokenizer"),
        ("retrieval.mode", "mode"),
    ]
    assert fmt(float("nan")) == "–" and fmt(None) == "–" and fmt(0.12345) == "0.1235"


def test_results_json_round_trip_renders_the_same(tmp_path: Path) -> None:
    results = make_results(8, strategy="halving")
    again = json.loads(json.dumps(results, ensure_ascii=False))
    strip = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # plotly div ids
    assert strip.sub("", build_html(results)) == strip.sub("", build_html(again))
