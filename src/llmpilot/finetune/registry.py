"""Fine-tuned adapters registered in a project's store (table `adapters`, migration m005).

An adapter folder is self-describing (`llmpilot-adapter.json`); the registry records what was
trained, on which data (its hash) and how well, so `llmpilot adapters list` answers "which adapter is
this and what did it score" without opening every folder, and a config can name an adapter by its
registered name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from llmpilot.errors import ConfigError
from llmpilot.store import schema
from llmpilot.store.db import Store

_T = schema.adapters


@dataclass(frozen=True)
class AdapterRecord:
    id: str
    name: str
    method: str
    base: str
    data_hash: str
    adapter_dir: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime


def adapter_id(adapter_dir: Path, data_hash: str) -> str:
    return hashlib.sha256(f"{adapter_dir.resolve()}\0{data_hash}".encode()).hexdigest()[:32]


class AdapterRegistry:
    def __init__(self, store: Store) -> None:
        self.store = store

    def register(
        self,
        *,
        name: str,
        method: str,
        base: str,
        data_hash: str,
        adapter_dir: Path,
        config: dict[str, Any],
        metrics: dict[str, Any],
    ) -> AdapterRecord:
        """Record an adapter; training the same data into the same folder again replaces its row."""
        record = AdapterRecord(
            id=adapter_id(adapter_dir, data_hash),
            name=name,
            method=method,
            base=base,
            data_hash=data_hash,
            adapter_dir=str(adapter_dir.resolve()),
            config=config,
            metrics=metrics,
            created_at=datetime.now(UTC),
        )
        with self.store.engine.begin() as conn:
            conn.execute(delete(_T).where(_T.c.id == record.id))
            conn.execute(
                insert(_T).values(
                    id=record.id,
                    name=record.name,
                    method=record.method,
                    base=record.base,
                    data_hash=record.data_hash,
                    adapter_dir=record.adapter_dir,
                    config_json=json.dumps(config, sort_keys=True),
                    metrics_json=json.dumps(metrics, sort_keys=True),
                    created_at=record.created_at,
                )
            )
        return record

    def list(self) -> list[AdapterRecord]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(_T).order_by(_T.c.created_at.desc())).mappings().all()
        return [
            AdapterRecord(
                id=row["id"],
                name=row["name"],
                method=row["method"],
                base=row["base"],
                data_hash=row["data_hash"],
                adapter_dir=row["adapter_dir"],
                config=json.loads(row["config_json"]),
                metrics=json.loads(row["metrics_json"]),
                created_at=row["created_at"],
            )
            for row in rows
        ]

    def find(self, name: str) -> AdapterRecord:
        """The newest adapter registered under `name` (or with that id)."""
        for record in self.list():
            if name in (record.name, record.id):
                return record
        known = ", ".join(sorted({r.name for r in self.list()})) or "none yet (llmpilot finetune)"
        raise ConfigError(f"no adapter named {name!r} is registered in this project; registered: {known}")
