"""The README's data-agent walk-through as real processes, with a real local model: profile the
demo corpus, ask SmolLM2-135M (the default generator, decoding constrained to the plan schema) for a
change, preview it, apply it, undo it. The store ends exactly as it began; source files are never
touched."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from llmpilot.project import Project
from llmpilot.store import schema

FOOTER_START = "© 2026 한울에너지(주). 무단 전재 및 재배포를 금지합니다."


def llmpilot(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "llmpilot", *args], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"llmpilot {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


def store_rows(root: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    proj = Project.open(root)
    try:
        with proj.store.engine.connect() as conn:
            docs = sorted(
                (r.id, r.text, r.content_hash, r.duplicate_of) for r in conn.execute(select(schema.documents))
            )
        chunks, _ = proj.store.chunks(proj.config.chunks_hash())
        return docs, sorted((c.id, c.text) for c in chunks)
    finally:
        proj.close()


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_profile_ask_a_local_model_preview_apply_undo(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    with resources.as_file(resources.files("llmpilot") / "sample_corpus") as corpus:
        shutil.copytree(corpus, docs)
    (docs / "QUESTIONS.md").unlink()
    root = tmp_path / "demo"
    llmpilot("init", str(root))  # the default generator: llama-cpp with SmolLM2-135M
    config = yaml.safe_load((root / "llmpilot.yaml").read_text(encoding="utf-8"))
    config["retrieval"]["mode"] = "keyword"  # no embedder to load: the model under test is the generator
    config["generator"]["n_threads"] = 2
    (root / "llmpilot.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    llmpilot("ingest", "-p", str(root), str(docs), "--no-progress")
    files = digest(docs)
    before = store_rows(root)

    llmpilot("data", "profile", "-p", str(root), "--json", str(tmp_path / "profile.json"))
    profile = json.loads((tmp_path / "profile.json").read_text(encoding="utf-8"))
    footer = [b for b in profile["boilerplate"] if b["kind"] == "block"]
    assert footer and footer[0]["count"] == 4 and footer[0]["text"].startswith(FOOTER_START)

    plan_path = tmp_path / "plan.yaml"
    suggested = llmpilot(
        "transform", "suggest", "remove the repeated footer", "-p", str(root), "--by", "model",
        "--out", str(plan_path), "--json", str(tmp_path / "suggestion.json"),
    )  # fmt: skip
    suggestion = json.loads((tmp_path / "suggestion.json").read_text(encoding="utf-8"))
    assert suggestion["method"].startswith("model:llama-cpp:SmolLM2"), suggested.stderr
    steps = suggestion["plan"]["steps"]
    # The grammar makes any answer a valid plan; the checks keep only steps that change the sample
    # without gutting a document. What survives must do something, and only what was asked.
    assert steps, suggestion["notes"]
    assert {s["op"] for s in steps} <= {"drop_block", "drop_lines", "drop_section", "regex_replace"}

    preview = json.loads(
        llmpilot("transform", "preview", str(plan_path), "-p", str(root), "--json", str(tmp_path / "p.json"))
        and (tmp_path / "p.json").read_text(encoding="utf-8")
    )
    assert preview["documents_changed"] >= 1 and preview["emptied"] == []
    assert store_rows(root) == before  # a preview writes nothing

    llmpilot("transform", "apply", str(plan_path), "-p", str(root), "--no-progress")
    after = store_rows(root)
    assert after != before
    changed = {d[0] for d in after[0]} ^ {d[0] for d in before[0]} or {
        a[0] for a, b in zip(after[0], before[0], strict=True) if a[1] != b[1]
    }
    assert len(changed) == preview["documents_changed"]

    llmpilot("transform", "undo", "-p", str(root), "--no-progress")
    assert store_rows(root) == before
    assert digest(docs) == files
