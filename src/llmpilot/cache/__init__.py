"""Answer cache: exact match on normalised question text, then a semantic cache (query embedding,
nearest cached questions) whose candidates are verified before a cached answer is served.

- `normalize_question`: the exact-cache key.
- `Verifier` / `QuestionFeatures` / `Verdict`: what differs between two questions (verify.py).
- `VectorTable`: exact cosine search over normalised vectors.
- `SemanticCache` / `Lookup`: one scope's lookup, the rule every caller shares.
- `load_pairs` / `load_negatives`, `evaluate` / `calibrate`: measurement on labelled data.
"""

from llmpilot.cache.calibrate import Calibration, calibrate, evaluate
from llmpilot.cache.normalize import normalize_question
from llmpilot.cache.pairs import Negative, Pair, load_negatives, load_pairs
from llmpilot.cache.semantic import Lookup, SemanticCache
from llmpilot.cache.table import VectorTable
from llmpilot.cache.verify import QuestionFeatures, Verdict, Verifier

__all__ = [
    "Calibration",
    "Lookup",
    "Negative",
    "Pair",
    "QuestionFeatures",
    "SemanticCache",
    "VectorTable",
    "Verdict",
    "Verifier",
    "calibrate",
    "evaluate",
    "load_negatives",
    "load_pairs",
    "normalize_question",
]
