"""Rate-distortion plots for :mod:`benchmarks.rd`: one PNG per metric, quality against kbps.

VVC is drawn as a curve (its QP sweep, one aggregated point per QP, joined in rate order)
because it is a family of operating points, and so is avfr's preset curve (``avfr-<preset>``,
one point per encoder preset); the other avfr modes, "repeat the keyframe" and
VVC-at-avfr's-bpp are single operating points, drawn as markers, so nobody reads a line
between them as a curve. When the curves were compared (:mod:`benchmarks.bdrate`), the plot
of a BD metric says the BD-rate and the crossover rate in its corner.
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
MARKERS = {
    "avfr": ("*", "tab:red", 14),
    "avfr-1key": ("^", "tab:pink", 10),
    "avfr-raw": ("P", "tab:orange", 10),
    "repeat-keyframe": ("X", "tab:gray", 10),
    "vvc-match": ("D", "tab:blue", 8),
}


def _curve(ax: "plt.Axes", aggregate: dict[str, dict], keys: list[str], metric: str, style: str, colour: str, label: str, prefix: str) -> None:
    """Points joined in rate order, each named by its key less ``prefix``."""
    pts = sorted((aggregate[k]["kbps"], aggregate[k][metric], k) for k in keys if aggregate[k].get(metric) is not None)
    if not pts:
        return
    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colour, label=label)
    for x, y, key in pts:
        ax.annotate(key.removeprefix(prefix), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour)


def rd_plot(aggregate: dict[str, dict], metric: str, path: Path, title: str, comparison: dict | None = None) -> Path:
    """One metric against kbps for every aggregated codec point; returns the PNG's path."""
    label, _ = PLOTTED[metric]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    _curve(ax, aggregate, [k for k in aggregate if k.startswith("vvc-qp")], metric, "o-", "tab:blue", "VVC (VVenC low-delay, QP sweep)", "vvc-")
    presets = [k for k in aggregate if k.startswith("avfr-") and k not in MARKERS]
    _curve(ax, aggregate, presets, metric, "s-", "tab:red", "avfr presets (avfr encode --preset)", "avfr-")
    for key, (marker, colour, size) in MARKERS.items():
        point = aggregate.get(key)
        if point is not None and point.get(metric) is not None:
            ax.plot(point["kbps"], point[metric], marker, color=colour, markersize=size, linestyle="none", label=_legend(key))
    if comparison:
        ax.text(0.02, 0.02, f"avfr vs VVC: BD-rate {comparison['bd_rate_note']}\ncrossover: {comparison['crossover_text']}",
                transform=ax.transAxes, fontsize=7, va="bottom", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})  # fmt: skip
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
    return {
        "avfr": "avfr (compact motion + refresh)",
        "avfr-1key": "avfr, compact motion, no refresh",
        "avfr-raw": "avfr, raw FP16 motion, one keyframe (paper)",
        "repeat-keyframe": "repeat the keyframe (zero motion)",
        "vvc-match": "VVC at avfr's bpp",
    }[key]


def rd_plots(aggregate: dict[str, dict], out_dir: Path, name: str, title: str, curves: dict | None = None) -> list[Path]:
    """Every plot of :data:`PLOTTED`, as ``rd-<name>-<metric>.png``; ``curves``: benchmarks.rd's
    curve comparison per metric, written on the plots of those metrics."""
    curves = curves or {}
    return [rd_plot(aggregate, m, out_dir / f"rd-{name}-{m}.png", f"{title}: {m.upper()}", curves.get(m)) for m in PLOTTED]
