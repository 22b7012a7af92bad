"""Rate-distortion plots for :mod:`benchmarks.rd`: one PNG per metric, quality against kbps.

VVC is drawn as a curve (its QP sweep, one aggregated point per QP, joined in rate order)
because it is a family of operating points; avfr, "repeat the keyframe" and VVC-at-avfr's-bpp
are single operating points, drawn as markers, so nobody reads a line between them as a curve.
The rate axis is logarithmic: the points span ~1 to ~100 kbps.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

PLOTTED = {  # metric key -> (axis label, whether lower is better)
    "dists": ("DISTS (lower is better)", True),
    "lpips": ("LPIPS-Alex (lower is better)", True),
    "psnr": ("PSNR, dB (higher is better)", False),
    "fid": ("FID over the set (lower is better)", True),
}
MARKERS = {"avfr": ("*", "tab:red", 14), "avfr-1key": ("^", "tab:pink", 10), "avfr-raw": ("P", "tab:orange", 10), "repeat-keyframe": ("X", "tab:gray", 10), "vvc-match": ("D", "tab:blue", 8)}


def rd_plot(aggregate: dict[str, dict], metric: str, path: Path, title: str) -> Path:
    """One metric against kbps for every aggregated codec point; returns the PNG's path."""
    label, _ = PLOTTED[metric]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    sweep = sorted((p["kbps"], p[metric]) for k, p in aggregate.items() if k.startswith("vvc-qp") and p.get(metric) is not None)
    if sweep:
        ax.plot(*zip(*sweep), "o-", color="tab:blue", label="VVC (VVenC low-delay, QP sweep)")
        for (x, y), key in zip(sweep, sorted((p["kbps"], k) for k, p in aggregate.items() if k.startswith("vvc-qp"))):
            ax.annotate(key[1].removeprefix("vvc-"), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    for key, (marker, colour, size) in MARKERS.items():
        point = aggregate.get(key)
        if point is not None and point.get(metric) is not None:
            ax.plot(point["kbps"], point[metric], marker, color=colour, markersize=size, linestyle="none", label=_legend(key))
    ax.set_xscale("log")
    for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        axis(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("video kbit/s (audio excluded)")
    ax.set_ylabel(label)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_figure(fig: "plt.Figure", ax: "plt.Axes", path: Path, xlabel: str, ylabel: str) -> Path:
    """Label, lay out, write as PNG and free one figure (every benchmark plot ends this way)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _legend(key: str) -> str:
    return {"avfr": "avfr (compact motion + refresh)", "avfr-1key": "avfr, compact motion, no refresh", "avfr-raw": "avfr, raw FP16 motion, one keyframe (paper)", "repeat-keyframe": "repeat the keyframe (zero motion)", "vvc-match": "VVC at avfr's bpp"}[key]


def rd_plots(aggregate: dict[str, dict], out_dir: Path, name: str, title: str) -> list[Path]:
    """Every plot of :data:`PLOTTED`, as ``rd-<name>-<metric>.png``."""
    return [rd_plot(aggregate, m, out_dir / f"rd-{name}-{m}.png", f"{title}: {m.upper()}") for m in PLOTTED]
