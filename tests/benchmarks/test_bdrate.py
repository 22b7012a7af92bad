"""BD-rate against a published example and hand-computed cases; crossover on curves that cross where we know."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bdrate import Curve, bd_quality, bd_rate, crossover, envelope

# JCTVC-E137's example (kbit/s, PSNR dB); BD-rates as the VMAF library's PCHIP implementation gives them.
E137 = [
    (([108048.8736, 61279.976, 33905.6656, 18883.6928], [43.6471, 40.3953, 37.247, 34.2911]),
     ([108061.2784, 61299.9936, 33928.7472, 18910.912], [43.6768, 40.4232, 37.2761, 34.3147]), -0.465215420752807),
    (([40433.8848, 7622.7456, 2394.488, 1017.6184], [37.5761, 35.3756, 33.8977, 32.0603]),
     ([40370.12, 7587.0024, 2390.0944, 1017.0984], [37.5982, 35.4025, 33.9194, 32.0822]), -1.8779823450567612),
]  # fmt: skip


@pytest.mark.parametrize("anchor, test, expected", E137)
def test_published_example(anchor: tuple, test: tuple, expected: float) -> None:
    assert bd_rate(Curve.of(*anchor), Curve.of(*test)).value == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("lower_is_better", [False, True])
def test_the_same_quality_at_0_8x_the_rate_is_minus_20_percent(lower_is_better: bool) -> None:
    rates = np.array([3.0, 6.0, 12.0, 25.0])
    quality = np.array([0.40, 0.25, 0.15, 0.10]) if lower_is_better else np.array([26.0, 29.0, 32.0, 35.0])
    anchor, test = Curve.of(rates, quality, lower_is_better), Curve.of(0.8 * rates, quality, lower_is_better)
    assert bd_rate(anchor, test).value == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(test, anchor).value == pytest.approx(25.0, abs=1e-9)
    gain = bd_quality(anchor, test).value
    assert (gain < 0) if lower_is_better else (gain > 0)  # the cheaper curve is better at equal rate


def test_dominated_points_are_dropped_and_counted() -> None:
    curve = Curve.of([4.0, 8.0, 16.0, 32.0], [0.20, 0.15, 0.16, 0.12], lower_is_better=True)  # 16 kbit/s: worse than 8
    kept, dropped = envelope(curve)
    assert kept.kbps == (4.0, 8.0, 32.0) and dropped == 1
    flat = Curve.of([4.0, 8.0, 16.0], [0.15, 0.15, 0.15], lower_is_better=True)
    result = bd_rate(curve, flat)
    assert result.value is None and "2 points" in result.reason


def test_no_overlap_says_so() -> None:
    result = bd_rate(Curve.of([1, 2], [30, 32]), Curve.of([1, 2], [40, 42]))
    assert result.value is None and "overlap" in result.reason


def test_crossover_where_the_lines_cross() -> None:
    rates = np.logspace(0, 2, 5)  # 1-100 kbit/s
    anchor = Curve.of(rates, 10 * np.log10(rates))  # steeper: wins at high rate
    test = Curve.of(rates, 5 * np.log10(rates) + 5)  # equal at 10 kbit/s
    c = crossover(anchor, test)
    assert c.kbps == pytest.approx(10.0, rel=1e-3) and not c.beyond
    lpips_anchor = Curve.of(rates, 1 - np.array(anchor.quality) / 30, True)
    lpips_test = Curve.of(rates, 1 - np.array(test.quality) / 30, True)
    assert crossover(lpips_anchor, lpips_test).kbps == pytest.approx(10.0, rel=1e-3)
    everywhere = crossover(anchor, Curve.of(rates, 10 * np.log10(rates) + 1))
    assert everywhere.beyond and everywhere.kbps == pytest.approx(100.0)
    assert crossover(anchor, Curve.of(rates, 10 * np.log10(rates) - 1)).kbps is None
