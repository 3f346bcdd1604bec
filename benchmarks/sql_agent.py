"""SQL drafting eval (issue 18): plain-language requests (half Korean, half English:
benchmarks/data/sql_agent/requests.jsonl) against a small support database, drafted by the rules
drafter and by catalog GGUF models.

    .venv/bin/python benchmarks/sql_agent.py --generators rules smollm2-135m \\
        --json benchmarks/results/sql_agent.json

The database is built in a temp dir from benchmarks/data/sql_agent/schema.sql + seed.sql; every
request has a gold SELECT. Per generator:

  valid_rate    share of requests whose drafted SQL passes `check_read_only` (for a model: its own
                SQL, before any fallback; the rules drafter's always does unless it raises)
  usable_rate   share whose draft is also usable: it reads only known tables and its result has the
                id/text/title columns it claims (a model draft failing this falls back to rules)
  match_rate    share whose draft, run with `run_read_only` (up to 1000 rows), matches the gold result:
                (a) the set of id values (as text, stripped) equals the gold's, and (b) for every gold
                id, every non-blank line of the gold text (stripped) is a substring of the draft's text
                for that id. (b) lets a draft add columns or use another separator, but not lose text.
                For a model an invalid or failing draft counts as a miss (no fallback).
  final_match_rate  the same for what `draft_query` returns (a model's invalid draft falls back to
                the rules draft): what a user would see.
  mean_s        mean wall seconds per request of `draft_query` (model load excluded: one warm-up call)

A catalog generator NAME is GeneratorConfig(name="llama-cpp", model=NAME, n_threads=2) built through
llmpilot.factory, decoding JSON under the schema's grammar when the generator supports it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmpilot import factory
from llmpilot.config import GeneratorConfig
from llmpilot.errors import LlmpilotError
from llmpilot.sources.sql_agent import (
    DraftMismatchError,
    SchemaInfo,
    SqlDraft,
    describe_schema,
    draft_query,
    model_draft,
    rules_draft,
)
from llmpilot.sources.sql_guard import UnsafeSqlError, run_read_only

DATA = Path(__file__).parent / "data" / "sql_agent"
ROW_LIMIT = 1000


def build_database(folder: Path) -> str:
    path = folder / "support.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / "schema.sql").read_text(encoding="utf-8"))
        conn.executescript((DATA / "seed.sql").read_text(encoding="utf-8"))
    return f"sqlite:///{path}"


def load_requests() -> list[dict[str, Any]]:
    lines = (DATA / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def result_texts(url: str, sql: str, id_column: str, text_column: str) -> dict[str, str]:
    """id -> text of the query's rows (the first row of a repeated id)."""
    columns, rows = run_read_only(url, sql, ROW_LIMIT)
    lowered = [c.lower() for c in columns]
    id_at, text_at = lowered.index(id_column.lower()), lowered.index(text_column.lower())
    out: dict[str, str] = {}
    for row in rows:
        out.setdefault(str(row[id_at]).strip(), "" if row[text_at] is None else str(row[text_at]))
    return out


def matches(gold: dict[str, str], drafted: dict[str, str]) -> bool:
    if set(gold) != set(drafted):
        return False
    return all(
        line.strip() in drafted[key]
        for key, text in gold.items()
        for line in text.splitlines()
        if line.strip()
    )


def draft_matches(url: str, draft: SqlDraft, gold: dict[str, str]) -> tuple[bool, str | None]:
    try:
        drafted = result_texts(url, draft.sql, draft.id_column, draft.text_column)
    except (LlmpilotError, ValueError) as exc:  # ValueError: a claimed column missing from the result
        return False, f"{type(exc).__name__}: {exc}"
    return matches(gold, drafted), None


def make_generator(name: str) -> object | None:
    if name == "rules":
        return None
    return factory.generator(GeneratorConfig(name="llama-cpp", model=name, n_threads=2))


def evaluate(name: str, url: str, schema: SchemaInfo, requests: list[dict[str, Any]]) -> dict[str, Any]:
    generator = make_generator(name)
    if generator is not None:
        draft_query("warm-up: FAQ", schema, generator=generator)  # loads the model outside the timings
    items = []
    for item in requests:
        gold = result_texts(url, item["gold_sql"], item["id_column"], item["text_column"])
        items.append(_evaluate_one(item, gold, url, schema, generator))
        print(f"{name} {item['id']}: valid={items[-1]['valid']} match={items[-1]['match']}", flush=True)
    n = len(items)
    return {
        "generator": name,
        "requests": n,
        "valid_rate": sum(i["valid"] for i in items) / n,
        "usable_rate": sum(i["usable"] for i in items) / n,
        "match_rate": sum(i["match"] for i in items) / n,
        "final_match_rate": sum(i["final_match"] for i in items) / n,
        "mean_s": statistics.fmean(i["seconds"] for i in items),
        "by_language": {
            lang: sum(i["match"] for i in items if i["lang"] == lang)
            / sum(1 for i in items if i["lang"] == lang)
            for lang in sorted({i["lang"] for i in items})
        },
        "items": items,
    }


def _evaluate_one(
    item: dict[str, Any], gold: dict[str, str], url: str, schema: SchemaInfo, generator: object | None
) -> dict[str, Any]:
    started = time.perf_counter()
    own, valid, error = _own_draft(item["request"], schema, generator)
    # What draft_query returns, with the model's verdict kept apart (one generation, not two).
    final = own if own is not None else rules_draft(item["request"], schema)
    seconds = time.perf_counter() - started
    own_match, run_error = draft_matches(url, own, gold) if own is not None else (False, None)
    final_match, _ = draft_matches(url, final, gold)
    return {
        "id": item["id"],
        "lang": item["lang"],
        "request": item["request"],
        "sql": own.sql if own is not None else None,
        "final_sql": final.sql,
        "valid": valid,
        "usable": own is not None,
        "match": own_match,
        "final_match": final_match,
        "error": error or run_error,
        "seconds": round(seconds, 3),
    }


def _own_draft(
    request: str, schema: SchemaInfo, generator: object | None
) -> tuple[SqlDraft | None, bool, str | None]:
    """(the drafter's own draft or None, whether its SQL passed the guard, why it was refused)."""
    if generator is None:
        return draft_query(request, schema), True, None
    try:
        return model_draft(request, schema, generator), True, None
    except DraftMismatchError as exc:
        return None, True, str(exc)
    except UnsafeSqlError as exc:
        return None, False, str(exc)
    except LlmpilotError as exc:  # no JSON, missing fields: no SQL to check
        return None, False, str(exc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generators", nargs="+", default=["rules"], help="rules and/or catalog model names")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    requests = load_requests()
    with tempfile.TemporaryDirectory() as tmp:
        url = build_database(Path(tmp))
        schema = describe_schema(url)
        results = [evaluate(name, url, schema, requests) for name in args.generators]
    print(json.dumps([{k: v for k, v in r.items() if k != "items"} for r in results], indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "results": results}
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
