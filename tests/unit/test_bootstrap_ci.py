import numpy as np
import pytest

from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap


def test_ci_contains_the_mean_and_narrows_with_more_data() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(20).tolist()
    large = rng.random(2000).tolist()
    m, lo, hi = bootstrap_ci(small)
    assert lo <= m <= hi and m == pytest.approx(float(np.mean(small)))
    _, lo2, hi2 = bootstrap_ci(large)
    assert (hi2 - lo2) < (hi - lo)
    assert bootstrap_ci([0.5]) == (0.5, 0.5, 0.5)
    assert bootstrap_ci(small) == bootstrap_ci(small)  # deterministic


def test_paired_bootstrap_detects_a_real_difference_and_not_a_fake_one() -> None:
    rng = np.random.default_rng(2)
    base = rng.random(200)
    better = np.clip(base + 0.1 + rng.normal(0, 0.02, 200), 0, 1)
    noisy = np.clip(base + rng.normal(0, 0.05, 200), 0, 1)
    clear = paired_bootstrap(better.tolist(), base.tolist())
    assert clear["mean_diff"] > 0.05 and clear["p_value"] < 0.01 and clear["ci_low"] > 0
    unclear = paired_bootstrap(noisy.tolist(), base.tolist())
    assert unclear["p_value"] > 0.05 and unclear["ci_low"] < 0 < unclear["ci_high"]
    assert paired_bootstrap([1.0, 0.0], [1.0, 0.0])["p_value"] == 1.0
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 2.0])
