"""Choosing the model with evidence: the catalog, multiple-choice benchmarks scored by log-likelihood
(the EleutherAI harness's method), a HELM-style holistic table, pairwise win rates, MTEB-style embedder
tasks, and the report that ranks them next to the user's own task metrics."""
