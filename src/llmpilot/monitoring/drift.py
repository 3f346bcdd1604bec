"""Two-sample tests of drift between a baseline window and a current window of served questions.

Pure statistics over arrays and counts (numpy, scipy, scikit-learn); reading windows from files or
traces is llmpilot.monitoring.drift_inputs' job.

- `mmd_test`: query-embedding distribution shift, unbiased MMD² with an RBF kernel whose bandwidth
  is the median pairwise distance of the pooled sample; permutation p-value.
- `classifier_test`: the same question asked of a classifier: the cross-validated AUC of a logistic
  regression telling baseline from current, against its permutation null.
- `score_shift`: retrieval top scores, two-sample Kolmogorov-Smirnov (plus the mean difference).
- `rate_shift`: a rate (abstained, negative feedback), two-proportion z-test; Fisher's exact test
  when an expected cell count is under 5.
- `mix_shift`: the language mix, chi-square test of homogeneity; exact (2 languages) or Monte-Carlo
  permutation (more) when an expected count is under 5.
- `holm`: the overall decision. Several signals are tested on the same windows, so the family-wise
  error is controlled with Holm's step-down procedure at `alpha` (valid whatever the dependence
  between the signals, and uniformly more powerful than Bonferroni): drift is declared when at least
  one signal's Holm-adjusted p-value is <= alpha.

Permutation p-values use the +1 correction, (1 + #{null >= observed}) / (1 + permutations): never 0,
and a valid (slightly conservative) p-value for any number of permutations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

#: Expected cell count under which the asymptotic tests give way to exact/permutation ones.
SMALL_EXPECTED = 5.0


@dataclass(frozen=True)
class TestResult:
    """One two-sample test: its statistic, p-value, method, the two sample sizes and details
    (what else a reader needs to interpret it: bandwidth, means, rates, shares)."""

    __test__ = False  # not a pytest test class, despite the name

    statistic: float
    p_value: float
    method: str
    n_baseline: int
    n_current: int
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "method": self.method,
            "n_baseline": self.n_baseline,
            "n_current": self.n_current,
            "details": self.details,
        }


def _two_samples(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if b.ndim == 1:
        b = b.reshape(-1, 1)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"two samples of equally long vectors are needed, got shapes {a.shape} and {b.shape}"
        )
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"each sample needs at least 2 items, got {len(a)} and {len(b)}")
    return a, b


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """(1 + #{null >= observed}) / (1 + len(null)); a small tolerance counts float ties as ties."""
    exceed = int(np.count_nonzero(null >= observed - 1e-12 * max(1.0, abs(observed))))
    return (1 + exceed) / (1 + len(null))


# --- embeddings -------------------------------------------------------------------------------------


def _sq_distances(z: np.ndarray) -> np.ndarray:
    norms = np.einsum("ij,ij->i", z, z)
    d2 = norms[:, None] + norms[None, :] - 2.0 * (z @ z.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


def median_bandwidth(z: np.ndarray) -> float:
    """The median heuristic: the median Euclidean distance between distinct points of the sample."""
    d2 = _sq_distances(z)
    upper = np.sqrt(d2[np.triu_indices(len(z), k=1)])
    positive = upper[upper > 0]
    if positive.size == 0:
        return 1.0  # all points equal: any bandwidth gives MMD 0
    return float(np.median(positive))


def _mmd_batch(k0: np.ndarray, members: np.ndarray, n: int, m: int) -> np.ndarray:
    """Unbiased MMD² for each row of `members` (0/1 indicators of the first sample, n ones) over the
    pooled kernel matrix `k0` with a zero diagonal."""
    total = float(k0.sum())
    col = k0.sum(axis=1)
    s_xx = np.einsum("bi,bi->b", members @ k0, members)
    s_xy = members @ col - s_xx
    s_yy = total - s_xx - 2.0 * s_xy
    result: np.ndarray = s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)
    return result


def mmd_test(
    x: Any, y: Any, *, permutations: int = 500, seed: int = 0, bandwidth: float | None = None
) -> TestResult:
    """Is `y` (current) drawn from the distribution of `x` (baseline)? Unbiased MMD² with the RBF
    kernel exp(-|a-b|² / (2 bandwidth²)); the bandwidth defaults to the median pairwise distance of
    the pooled sample (computed once, label-free, so the permutations keep it). p-value: share of
    label permutations whose MMD² reaches the observed one, with the +1 correction."""
    a, b = _two_samples(x, y)
    n, m = len(a), len(b)
    z = np.vstack([a, b])
    sigma = float(bandwidth) if bandwidth is not None else median_bandwidth(z)
    k0 = np.exp(-_sq_distances(z) / (2.0 * sigma * sigma))
    np.fill_diagonal(k0, 0.0)
    observed_members = np.zeros((1, n + m))
    observed_members[0, :n] = 1.0
    observed = float(_mmd_batch(k0, observed_members, n, m)[0])
    rng = np.random.default_rng(seed)
    null_parts = []
    for start in range(0, permutations, 256):  # bounded memory: 256 permutations at a time
        count = min(256, permutations - start)
        members = np.zeros((count, n + m))
        for row in members:
            row[rng.permutation(n + m)[:n]] = 1.0
        null_parts.append(_mmd_batch(k0, members, n, m))
    null = np.concatenate(null_parts) if null_parts else np.zeros(0)
    return TestResult(
        statistic=observed,
        p_value=permutation_p_value(observed, null),
        method="mmd",
        n_baseline=n,
        n_current=m,
        details={
            "kernel": "rbf",
            "bandwidth": sigma,
            "permutations": permutations,
            "null_mean": float(null.mean()) if null.size else None,
            "null_q95": float(np.quantile(null, 0.95)) if null.size else None,
        },
    )


def _cv_auc(z: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    scores = np.zeros(len(labels))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(z, labels):
        model = LogisticRegression(C=1.0, max_iter=500)
        model.fit(z[train], labels[train])
        scores[test] = model.decision_function(z[test])
    return float(roc_auc_score(labels, scores))


def classifier_test(x: Any, y: Any, *, permutations: int = 200, seed: int = 0, folds: int = 5) -> TestResult:
    """A classifier two-sample test: the out-of-fold AUC of an L2 logistic regression telling `x`
    (label 0) from `y` (label 1), stratified k-fold; AUC 0.5 = indistinguishable. p-value: the
    share of label permutations (refit each time) whose AUC reaches the observed one, +1 corrected.
    Features are standardized with the pooled mean and deviation (label-free, so valid under the
    permutations); costlier than `mmd_test` by the refits: keep `permutations` in the hundreds."""
    a, b = _two_samples(x, y)
    n, m = len(a), len(b)
    z = np.vstack([a, b])
    spread = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    labels = np.concatenate([np.zeros(n, dtype=int), np.ones(m, dtype=int)])
    k = max(2, min(folds, n, m))
    observed = _cv_auc(z, labels, k, seed)
    rng = np.random.default_rng(seed)
    null = np.array([_cv_auc(z, rng.permutation(labels), k, seed) for _ in range(permutations)])
    return TestResult(
        statistic=observed,
        p_value=permutation_p_value(observed, null),
        method="classifier",
        n_baseline=n,
        n_current=m,
        details={
            "model": "logistic regression (L2, C=1)",
            "metric": "out-of-fold AUC",
            "folds": k,
            "permutations": permutations,
            "null_mean": float(null.mean()) if null.size else None,
            "null_q95": float(np.quantile(null, 0.95)) if null.size else None,
        },
    )


# --- retrieval scores, rates, mixes ------------------------------------------------------------------


def score_shift(baseline: Any, current: Any) -> TestResult:
    """Did the retrieval top scores shift? Two-sample Kolmogorov-Smirnov test (any change of the
    distribution), with the means and their difference (current - baseline) as details."""
    a = np.asarray(baseline, dtype=np.float64).ravel()
    b = np.asarray(current, dtype=np.float64).ravel()
    if a.size < 1 or b.size < 1:
        raise ValueError(f"each sample needs at least 1 score, got {a.size} and {b.size}")
    result = stats.ks_2samp(a, b)
    return TestResult(
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        method="ks",
        n_baseline=int(a.size),
        n_current=int(b.size),
        details={
            "mean_baseline": float(a.mean()),
            "mean_current": float(b.mean()),
            "mean_difference": float(b.mean() - a.mean()),
        },
    )


def _expected_counts(table: np.ndarray) -> np.ndarray:
    expected: np.ndarray = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    return expected


def rate_shift(k1: int, n1: int, k2: int, n2: int) -> TestResult:
    """Did a rate change from k1/n1 (baseline) to k2/n2 (current)? Two-sided two-proportion z-test
    with the pooled rate; Fisher's exact test when an expected cell count is under 5. The statistic
    is z in both cases (0 when no or every item has the property); the method names the p-value's."""
    for k, n, side in ((k1, n1, "baseline"), (k2, n2, "current")):
        if n < 1 or not 0 <= k <= n:
            raise ValueError(f"{side}: need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]], dtype=np.float64)
    r1, r2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    spread = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = float((r2 - r1) / spread) if spread > 0 else 0.0
    details = {"rate_baseline": r1, "rate_current": r2, "difference": r2 - r1, "statistic": "z"}
    if _expected_counts(table).min() < SMALL_EXPECTED:
        _, p = stats.fisher_exact(table.astype(int), alternative="two-sided")
        return TestResult(z, float(min(1.0, p)), "fisher exact", n1, n2, details)
    p = float(2.0 * stats.norm.sf(abs(z)))
    return TestResult(z, p, "two-proportion z", n1, n2, details)


def _chi_square(table: np.ndarray) -> float:
    expected = _expected_counts(table)
    return float(((table - expected) ** 2 / expected).sum())


def mix_shift(
    counts_baseline: Mapping[str, int],
    counts_current: Mapping[str, int],
    *,
    permutations: int = 2000,
    seed: int = 0,
) -> TestResult:
    """Did the mix of categories (languages) change? Chi-square test of homogeneity on the 2 x k
    table (no continuity correction); when an expected count is under 5: Fisher's exact test for
    2 categories, a Monte-Carlo permutation test of the chi-square statistic for more. The
    statistic is the chi-square value in every case (the method says where the p-value is from)."""
    names = sorted(
        k
        for k in set(counts_baseline) | set(counts_current)
        if counts_baseline.get(k, 0) + counts_current.get(k, 0) > 0
    )
    table = np.array(
        [[counts_baseline.get(k, 0) for k in names], [counts_current.get(k, 0) for k in names]],
        dtype=np.float64,
    )
    n1, n2 = int(table[0].sum()) if names else 0, int(table[1].sum()) if names else 0
    if n1 < 1 or n2 < 1:
        raise ValueError(f"each window needs at least 1 counted item, got {n1} and {n2}")
    details: dict[str, Any] = {
        "categories": names,
        "share_baseline": {k: float(table[0, i] / n1) for i, k in enumerate(names)},
        "share_current": {k: float(table[1, i] / n2) for i, k in enumerate(names)},
    }
    if len(names) < 2:
        return TestResult(0.0, 1.0, "chi-square (one category)", n1, n2, details)
    if _expected_counts(table).min() >= SMALL_EXPECTED:
        statistic = _chi_square(table)
        p = float(stats.chi2.sf(statistic, df=len(names) - 1))
        return TestResult(statistic, p, "chi-square", n1, n2, {**details, "statistic": "chi-square"})
    observed = _chi_square(table)
    if len(names) == 2:
        _, p = stats.fisher_exact(table.astype(int), alternative="two-sided")
        return TestResult(observed, float(min(1.0, p)), "fisher exact", n1, n2, details)
    pooled = np.repeat(np.arange(len(names)), table.sum(axis=0).astype(int))
    rng = np.random.default_rng(seed)
    null = np.empty(permutations)
    for i in range(permutations):
        shuffled = rng.permutation(pooled)
        first = np.bincount(shuffled[:n1], minlength=len(names))
        second = np.bincount(shuffled[n1:], minlength=len(names))
        null[i] = _chi_square(np.vstack([first, second]).astype(np.float64))
    return TestResult(
        observed,
        permutation_p_value(observed, null),
        "chi-square permutation",
        n1,
        n2,
        {**details, "statistic": "chi-square", "permutations": permutations},
    )


# --- the overall decision ----------------------------------------------------------------------------


def holm(p_values: Mapping[str, float], alpha: float) -> dict[str, tuple[float, bool]]:
    """Holm's step-down procedure: name -> (adjusted p-value, rejected at alpha). Controls the
    family-wise error rate at alpha under any dependence between the tests."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    ordered = sorted(p_values.items(), key=lambda item: (item[1], item[0]))
    m = len(ordered)
    out: dict[str, tuple[float, bool]] = {}
    running = 0.0
    for i, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - i) * float(p)))
        out[name] = (running, running <= alpha)
    return out
