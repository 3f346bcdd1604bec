"""Model-based injection scores from the project's query embedding.

Two scorers share one embedding of the question (the one retrieval computes anyway, so a caller can
pass it in and the rail costs a matrix product):

- the attack bank (`data/attacks.jsonl`): known attacks and benign look-alikes, Korean and English,
  each with its provenance (hand-written seed rows plus the labelled sets' dev split). The
  score is a logistic function of the margin between the nearest attack and the nearest benign
  exemplar: multilingual-e5 puts every pair of short questions at cosine 0.7-0.9, so an absolute
  cosine threshold says little, while "closer to an attack than to any benign question" does.
- a logistic regression on the embedding, trained by `benchmarks/guardrails.py --train` on the
  labelled sets' dev split only.

`data/injection-model.json` holds both scorers' parameters, how they combine and the cut (fitted on
the dev split) that is mapped to a score of 0.5, so `injection_threshold: 0.5` means "the fitted
operating point". It also holds a probe text's embedding: when the configured embedder reproduces
it, the bank's shipped vectors (`data/attack-bank.npy`, same row order as the bank) are used instead
of embedding a few hundred texts at start-up. With another embedder the scorer stands down and the
rules decide alone: the logistic regression and the margin's scale, fitted on e5-small, mean nothing
in another space.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from llmpilot.errors import ConfigError
from llmpilot.logistic import sigmoid

Embed = Callable[[Sequence[str]], np.ndarray]

DATA = resources.files("llmpilot.guardrails") / "data"
BANK_FILE = "attacks.jsonl"
MODEL_FILE = "injection-model.json"
BANK_VECTORS = "attack-bank.npy"
#: Cosine of the probe embedding to the shipped one above which the embedder counts as the same.
SAME_EMBEDDER_COSINE = 0.99


@dataclass(frozen=True)
class BankRow:
    text: str
    label: str  # "attack" | "benign"
    lang: str
    source: str


def load_bank(path: Path | None = None) -> list[BankRow]:
    """The shipped attack bank (or `path`)."""
    text = path.read_text(encoding="utf-8") if path else (DATA / BANK_FILE).read_text(encoding="utf-8")
    rows: list[BankRow] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            rows.append(BankRow(raw["text"], raw["label"], raw["lang"], raw["source"]))
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{path or BANK_FILE}:{n}: malformed attack-bank row ({exc})") from None
    return rows


def load_model(path: Path | None = None) -> dict[str, Any]:
    """The fitted scorer parameters: {"embedder", "margin": {"a", "b"}, "logreg": {"w", "b"} | None}."""
    source = path.read_text(encoding="utf-8") if path else (DATA / MODEL_FILE).read_text(encoding="utf-8")
    model: dict[str, Any] = json.loads(source)
    return model


def calibrated(raw: np.ndarray, cut: float) -> np.ndarray:
    """Monotone map of the raw score that sends `cut` to 0.5 (and keeps 0 and 1)."""
    cut = min(max(cut, 1e-6), 1 - 1e-6)
    out: np.ndarray = np.where(raw < cut, 0.5 * raw / cut, 0.5 + 0.5 * (raw - cut) / (1 - cut))
    return out


class AttackScorer:
    """Injection probability (0-1) of question embeddings; the bank is embedded (or its shipped
    vectors loaded) on first use.

    The shipped parameters were fitted in e5-small's space: with another embedder (the probe's
    embedding differs) the scorer is `available` False and the injection rail runs on its rules
    alone — scores from borrowed parameters would look meaningful and be noise. A bank and model
    passed in explicitly are trusted as they are."""

    def __init__(
        self, embed: Embed, bank: Sequence[BankRow] | None = None, model: dict[str, Any] | None = None
    ):
        self._embed = embed
        self._bank = list(bank) if bank is not None else None
        self._model = model
        self._explicit = bank is not None and model is not None
        self._lock = threading.Lock()
        self._ready = False
        self._available = False
        self._attacks: np.ndarray | None = None
        self._benign: np.ndarray | None = None

    def _same_embedder(self, model: dict[str, Any]) -> bool:
        probe = model.get("probe")
        if not probe:
            return False
        mine = self.embed([probe["text"]])[0]
        shipped = np.asarray(probe["vector"], dtype=np.float32)
        return mine.shape == shipped.shape and float(mine @ shipped) >= SAME_EMBEDDER_COSINE

    def warm(self) -> None:
        with self._lock:
            if self._ready:
                return
            bank = self._bank if self._bank is not None else load_bank()
            model = self._model if self._model is not None else load_model()
            labels = np.array([r.label == "attack" for r in bank])
            if labels.all() or not labels.any():
                raise ConfigError("the attack bank needs both attack and benign rows")
            self._model = model
            self._available = self._explicit or self._same_embedder(model)
            if self._available:
                vectors = None
                if not self._explicit and model.get("bank_vectors"):
                    with resources.as_file(DATA / model["bank_vectors"]) as path:
                        shipped = np.load(path).astype(np.float32)
                    vectors = shipped if shipped.shape[0] == len(bank) else None
                if vectors is None:
                    vectors = self.embed([r.text for r in bank])
                self._attacks = vectors[labels]
                self._benign = vectors[~labels]
            self._ready = True

    @property
    def available(self) -> bool:
        """The scorer applies to this embedder (loads on first use)."""
        self.warm()
        return self._available

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._embed(texts), dtype=np.float32)

    def margins(self, vectors: np.ndarray) -> np.ndarray:
        """Nearest-attack cosine minus nearest-benign cosine, per row."""
        self.warm()
        assert self._attacks is not None and self._benign is not None
        v = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        out: np.ndarray = (v @ self._attacks.T).max(axis=1) - (v @ self._benign.T).max(axis=1)
        return out

    def raw_scores(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """Each scorer's probability per row: "margin" always, "logreg" when it applies."""
        self.warm()
        assert self._model is not None
        v = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        margin = self._model["margin"]
        out = {"margin": sigmoid(margin["a"] * self.margins(v) + margin["b"])}
        logreg = self._model.get("logreg")
        if logreg:
            w = np.asarray(logreg["w"], dtype=np.float32)
            if w.shape[0] != v.shape[1]:
                raise ConfigError(
                    f"{MODEL_FILE} was trained on {w.shape[0]}-dimensional embeddings "
                    f"({self._model.get('embedder')}) but the vectors have {v.shape[1]}: pass the "
                    "vectors of the same embedder, or retrain with benchmarks/guardrails.py --train"
                )
            out["logreg"] = sigmoid(v @ w + float(logreg["b"]))
        return out

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Injection score per row (0.5 = the operating point fitted on the dev split)."""
        raw = self.raw_scores(vectors)
        assert self._model is not None
        combine = self._model.get("combine", "mean")
        score = raw[combine] if combine in raw else np.mean(np.stack(list(raw.values())), axis=0)
        return calibrated(score, float(self._model.get("cut", 0.5)))
