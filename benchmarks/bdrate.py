"""Bjontegaard delta rate and the crossover rate between two rate-distortion curves.

BD-rate (VCEG-M33, with the piecewise-cubic interpolation of the JCT-VC/JVET common test
conditions' spreadsheet): log10(rate) as a function of quality, interpolated by PCHIP
through each curve's points, integrated over the quality range both curves cover, and the
mean difference turned into a percentage, ``(10 ** mean(log10 r_test - log10 r_anchor) - 1)
* 100``. Negative: the test codec needs that much less rate for the same quality. The
integral does not depend on which way the quality axis points, so LPIPS and DISTS (lower is
better) go through the same formula; their direction matters for which points a codec
would ever use (:func:`envelope`), for the BD-quality sign and for the crossover.

Checked against the JCTVC-E137 example (BD-rate -0.4652% and -1.8780%, the figures of the
VMAF library's PCHIP implementation) and a hand-computed case (a curve at exactly 0.8x the
rate of another is -20%): ``tests/benchmarks/test_bdrate.py``.

A curve must cost more rate for better quality. Points that a cheaper point of the same
curve beats on that metric are dropped first (an encoder would never choose them), and the
result says how many; with fewer than two points left, or no overlap, there is no BD-rate
and the reason is given instead of a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator


@dataclass(frozen=True)
class Curve:
    """Rate points (kbit/s, any rate unit works for BD-rate) and their quality on one metric."""

    kbps: tuple[float, ...]
    quality: tuple[float, ...]
    lower_is_better: bool = False

    @classmethod
    def of(cls, kbps: Sequence[float], quality: Sequence[float], lower_is_better: bool = False) -> "Curve":
        pairs = [(float(r), float(q)) for r, q in zip(kbps, quality) if r is not None and q is not None and r > 0 and math.isfinite(q)]
        return cls(tuple(r for r, _ in pairs), tuple(q for _, q in pairs), lower_is_better)

    def better(self, a: float, b: float) -> bool:
        """Is quality ``a`` strictly better than ``b`` on this metric?"""
        return a < b if self.lower_is_better else a > b


def envelope(curve: Curve) -> tuple[Curve, int]:
    """The points no cheaper point beats, in rate order, and how many were dropped."""
    kept: list[tuple[float, float]] = []
    for r, q in sorted(zip(curve.kbps, curve.quality)):
        if not kept or curve.better(q, kept[-1][1]):
            if kept and r == kept[-1][0]:
                kept.pop()
            kept.append((r, q))
    return Curve(tuple(r for r, _ in kept), tuple(q for _, q in kept), curve.lower_is_better), len(curve.kbps) - len(kept)


@dataclass
class BDResult:
    """A BD figure, or why there is none; the points each curve lost to :func:`envelope`."""

    value: float | None
    reason: str = ""
    overlap: tuple[float, float] | None = None  # the range integrated over (quality for BD-rate, kbit/s for BD-quality)
    dropped: dict[str, int] = field(default_factory=dict)

    def text(self, digits: int = 1, unit: str = "%") -> str:
        if self.value is None:
            return f"n/a ({self.reason})"
        dropped = sum(self.dropped.values())
        return f"{self.value:+.{digits}f}{unit}" + (f" ({dropped} dominated point(s) dropped)" if dropped else "")


def _prepared(anchor: Curve, test: Curve) -> tuple[Curve, Curve, dict[str, int], str]:
    a, da = envelope(anchor)
    t, dt = envelope(test)
    why = ""
    if len(a.kbps) < 2 or len(t.kbps) < 2:
        why = f"needs 2 points per curve that cost more for better quality; anchor has {len(a.kbps)}, test {len(t.kbps)}"
    return a, t, {"anchor": da, "test": dt}, why


def _pchip(x: Sequence[float], y: Sequence[float]) -> PchipInterpolator:
    order = np.argsort(x)
    return PchipInterpolator(np.asarray(x, float)[order], np.asarray(y, float)[order])


def bd_rate(anchor: Curve, test: Curve) -> BDResult:
    """Percent rate the test curve needs beyond the anchor's for the same quality (negative: saves)."""
    a, t, dropped, why = _prepared(anchor, test)
    if why:
        return BDResult(None, why, dropped=dropped)
    lo, hi = max(min(a.quality), min(t.quality)), min(max(a.quality), max(t.quality))
    if hi <= lo:
        return BDResult(
            None, f"no overlap in quality (anchor {min(a.quality):.4g}-{max(a.quality):.4g}, test {min(t.quality):.4g}-{max(t.quality):.4g})", dropped=dropped
        )
    fa, ft = _pchip(a.quality, np.log10(a.kbps)), _pchip(t.quality, np.log10(t.kbps))
    mean = (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
    return BDResult(float((10**mean - 1) * 100), overlap=(float(lo), float(hi)), dropped=dropped)


def bd_quality(anchor: Curve, test: Curve) -> BDResult:
    """Mean quality difference test - anchor at equal rate, over the rates both cover (log-rate
    axis); for a lower-is-better metric a negative value means the test codec is better."""
    a, t, dropped, why = _prepared(anchor, test)
    if why:
        return BDResult(None, why, dropped=dropped)
    la, lt = np.log10(a.kbps), np.log10(t.kbps)
    lo, hi = max(la.min(), lt.min()), min(la.max(), lt.max())
    if hi <= lo:
        return BDResult(None, "no overlap in rate", dropped=dropped)
    fa, ft = _pchip(la, a.quality), _pchip(lt, t.quality)
    mean = (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
    return BDResult(float(mean), overlap=(float(10**lo), float(10**hi)), dropped=dropped)


@dataclass
class Crossover:
    """The highest rate at which the test codec is still better than the anchor on one metric.

    ``kbps`` is None when the test codec is better nowhere in the overlap; ``beyond`` is True
    when it is still better at the top of the overlap, so the crossover lies above ``kbps``
    (the highest rate both curves measured)."""

    kbps: float | None
    beyond: bool
    overlap: tuple[float, float] | None
    reason: str = ""

    def text(self) -> str:
        if self.overlap is None:
            return f"n/a ({self.reason})"
        lo, hi = self.overlap
        if self.kbps is None:
            return f"none: the anchor is better over all of {lo:.1f}-{hi:.1f} kbit/s"
        if self.beyond:
            return f"above {self.kbps:.1f} kbit/s (better over all of the overlap, {lo:.1f}-{hi:.1f})"
        return f"{self.kbps:.1f} kbit/s"


def crossover(anchor: Curve, test: Curve, samples: int = 2001) -> Crossover:
    """Both curves' envelopes interpolated (PCHIP) as quality against log-rate over the rates
    both cover; the highest rate where the test curve's quality is better, the sign change
    located by linear interpolation between samples."""
    a, t, _, why = _prepared(anchor, test)
    if why:
        return Crossover(None, False, None, why)
    la, lt = np.log10(a.kbps), np.log10(t.kbps)
    lo, hi = max(la.min(), lt.min()), min(la.max(), lt.max())
    if hi <= lo:
        return Crossover(None, False, None, "no overlap in rate")
    x = np.linspace(lo, hi, samples)
    sign = -1.0 if anchor.lower_is_better else 1.0
    margin = sign * (_pchip(lt, t.quality)(x) - _pchip(la, a.quality)(x))  # > 0: test better
    overlap = (float(10**lo), float(10**hi))
    better = np.flatnonzero(margin > 0)
    if better.size == 0:
        return Crossover(None, False, overlap)
    i = int(better[-1])
    if i == samples - 1:
        return Crossover(overlap[1], True, overlap)
    share = margin[i] / (margin[i] - margin[i + 1])
    return Crossover(float(10 ** (x[i] + share * (x[i + 1] - x[i]))), False, overlap)
