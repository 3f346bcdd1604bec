"""benchmarks/scale.py without PostgreSQL: the exact and usearch cells at 2000 rows (recall, the JSON
and HTML it writes, --resume skipping done cells), recall and growth arithmetic, and the one-line
error for an unreachable --pg-url."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--sizes", "2000",
        "--engines", "exact", "usearch", "usearch_mt",
        "--real", "none",
        "--queries", "200",
        "--json", str(tmp_path / "scale.json"),
        "--html", str(tmp_path / "scale.html"),
        "--work", str(tmp_path / "work"),
        *extra,
    ]  # fmt: skip


def test_exact_and_usearch_at_2000_rows(tmp_path: Path) -> None:
    assert bench.main(_args(tmp_path)) == 0
    result = json.loads((tmp_path / "scale.json").read_text(encoding="utf-8"))
    assert result["meta"]["finished"]
    size = result["sizes"]["2000"]
    assert "random unit vectors" in size["data"]["vectors"]
    assert "perturbed copies" in size["data"]["queries"]
    exact = size["exact"]["searches"][0]
    assert exact["recall_at_10"] == 1.0  # the project's exact index agrees with the numpy truth
    usearch = size["usearch"]
    assert usearch["status"] == "ok" and usearch["build_s"] > 0 and usearch["disk_bytes"] > 0
    assert {"rss_peak_mb", "rss_delta_mb"} <= set(usearch["memory"])
    by_setting = {s["setting"]: s for s in usearch["searches"]}
    assert set(by_setting) == {"expansion_search=64", "expansion_search=128"}
    for s in by_setting.values():
        assert s["n_queries"] == 200 and 0 < s["p50_ms"] <= s["p99_ms"]
    assert by_setting["expansion_search=128"]["recall_at_10"] >= 0.9
    threaded = size["usearch_mt"]  # the same index inserted with every core
    assert threaded["params"]["build_threads"] == (os.cpu_count() or 1)
    assert threaded["searches"][-1]["recall_at_10"] >= 0.9
    html = (tmp_path / "scale.html").read_text(encoding="utf-8")
    assert "<table>" in html and "expansion_search=128" in html and "random unit vectors" in html
    if importlib.util.find_spec("matplotlib") is not None:
        assert "<svg" in html and (tmp_path / "scale.png").stat().st_size > 0

    # --resume keeps the finished cells as they are instead of measuring them again.
    assert bench.main(_args(tmp_path, "--resume")) == 0
    again = json.loads((tmp_path / "scale.json").read_text(encoding="utf-8"))
    assert again["sizes"]["2000"]["usearch"] == usearch


def test_recall_counts_short_answers_as_misses() -> None:
    truth = np.arange(20).reshape(2, 10)
    found = [list(range(10)), list(range(10, 15))]  # the second answer has 5 of its 10
    got = bench.recall(found, truth, ["e5", "perturbed"])
    assert got == {"recall_at_10": 0.75, "recall_by_query_kind": {"e5": 1.0, "perturbed": 0.5}}


def _cell(build_s: float, disk: int, p50: float, rec: float, mb: float = 10.0) -> dict[str, Any]:
    search = {"setting": "s", "p50_ms": p50, "p99_ms": 2 * p50, "recall_at_10": rec}
    return {
        "status": "ok",
        "build_s": build_s,
        "disk_bytes": disk,
        "memory": {"rss_peak_mb": mb, "rss_delta_mb": mb / 2},
        "searches": [search],
    }


def test_growth_is_largest_over_smallest_size() -> None:
    results = {
        "sizes": {
            "1000": {"usearch": _cell(2.0, 100, 0.5, 0.99)},
            "10000": {"usearch": _cell(30.0, 1000, 1.0, 0.95, 40.0), "exact": _cell(1.0, 1, 1.0, 1.0)},
        }
    }
    got = bench.growth(results)
    assert got["row_ratio"] == 10
    assert got["usearch"]["build_s"] == 15.0 and got["usearch"]["disk_bytes"] == 10.0
    assert got["usearch"]["build_rss_peak_mb"] == 4.0
    assert got["usearch"]["s"]["p50_ms"] == 2.0 and got["usearch"]["s"]["recall_at_10"] == "0.99 -> 0.95"
    assert "exact" not in got  # measured at one size only


def test_unreachable_pg_url_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(tmp_path)
    args[args.index("exact") : args.index("usearch_mt") + 1] = ["pgvector_hnsw"]
    assert bench.main([*args, "--pg-url", "postgresql://postgres@127.0.0.1:1/postgres"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --pg-url postgresql://postgres@127.0.0.1:1/postgres: cannot connect")
    assert len(err.splitlines()) == 1
