"""Names of the answer metrics, apart from their implementations: modules that only need to know
a metric's name (the optimizer's search settings) do not import sacrebleu, nltk or torch."""

from __future__ import annotations

#: Metrics with one value per answer (all 0-1).
SENTENCE_METRICS = ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "meteor", "bertscore_f1", "moverscore")
