"""FID's bootstrap interval on synthetic features (no network): it brackets the figure's spread."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.metrics.fid import fid_from_features, fid_interval


def features(n: int, shift: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, (n, 32))


def test_interval_holds_the_fid_of_fresh_draws_and_narrows_with_more_frames() -> None:
    ref, dec = features(600, 0.0, 0), features(600, 0.3, 1)
    lo, hi = fid_interval(ref, dec, resamples=100)
    assert lo < fid_from_features(ref, dec) < hi
    fresh = [fid_from_features(features(600, 0.0, 10 + i), features(600, 0.3, 50 + i)) for i in range(8)]
    assert sum(lo < f < hi for f in fresh) >= 5  # the interval is about the spread of new draws of 600 frames
    assert max(fresh) - min(fresh) < 2 * (hi - lo)
    lo_small, hi_small = fid_interval(ref[:60], dec[:60], resamples=100)
    assert hi_small - lo_small > hi - lo


def test_interval_needs_paired_sets() -> None:
    with pytest.raises(ValueError, match="same number"):
        fid_interval(features(10, 0, 0), features(11, 0, 1))
