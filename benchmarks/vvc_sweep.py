"""Which VVenC settings give the VVC anchor its best curve here (issue 16, item 6).

    python -m benchmarks.vvc_sweep [--data DIR] [--clips 2] [--max-frames 125] [--qps 32,37,42,47,52]
                                   [--out benchmarks/results] [--name vvc_anchor] [--smoke] [--force]

A weak anchor flatters avfr, so the anchor's settings are chosen the way its own developers
would: on the same 256 px face crops avfr's sender sees (``benchmarks.rd.sender_crops``),
each candidate codes a QP sweep, and its curve is compared with the current default's by
BD-rate (:mod:`benchmarks.bdrate`) on LPIPS, DISTS and PSNR. Candidates vary one setting at a
time from the default (:func:`candidates`): the preset (speed for efficiency), the intra
period (one intra picture, or one every 1, 2 or 5 s), and perceptual QP adaptation. The low-
delay structure itself has no other choice in VVenC (GOP 8 only; see ``benchmarks.vvc``).

The winner is the candidate with the lowest mean BD-rate over LPIPS and DISTS (the metrics
the avfr comparison is made on), PSNR reported beside it; the result says which settings it
is, and ``python -m benchmarks.rd --preset P --vvc-intra-period S --vvc-qpa`` runs the
anchor with them. Per-QP metrics: the mean over clips of per-clip means (as benchmarks.rd).
Run time: ~(clips x frames x QPs x candidates) VVenC frames; the defaults (2 clips x 125
frames x 5 QPs x 8 candidates) are ~10,000 frames, ~15-30 min on 2 shared cores (``slow``
and ``slower`` dominate).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from benchmarks import vvc
from benchmarks.bdrate import Curve, bd_rate
from benchmarks.provenance import refuse_overwrite, run_cli, write_results
from benchmarks.rd import BD_METRICS, DEFAULT_DATA, REPO, CurveScores, _qps, list_clips, sender_crops
from codec.progress import progress_bar

if TYPE_CHECKING:
    from tqdm import tqdm

CHOOSE_ON = ("lpips", "dists")


@dataclass
class SweepConfig:
    data: Path = DEFAULT_DATA
    out: Path = REPO / "benchmarks" / "results"
    name: str = "vvc_anchor"
    clips: int = 2
    max_frames: int = 125
    qps: tuple[int, ...] = (32, 37, 42, 47, 52)
    metric_stride: int = 5  # LPIPS and DISTS on every n-th frame; PSNR on all
    force: bool = False
    candidates: list[vvc.VVCConfig] = field(default_factory=lambda: candidates())

    @classmethod
    def smoke(cls) -> "SweepConfig":
        return cls(name="vvc_anchor-smoke", clips=1, max_frames=16, qps=(37, 47), metric_stride=4,
                   candidates=candidates(presets=("faster", "fast"), intra_periods=(1,), qpa=False))  # fmt: skip


def candidates(presets: Sequence[str] = vvc.PRESETS, intra_periods: Sequence[int] = (1, 2, 5), qpa: bool = True) -> list[vvc.VVCConfig]:
    """The default first, then one setting changed at a time."""
    base = vvc.VVCConfig()
    out = [base] + [replace(base, preset=p) for p in presets if p != base.preset]
    out += [replace(base, intra_period_s=s) for s in intra_periods]
    return out + ([replace(base, perceptual_qpa=True)] if qpa else [])


def sweep_clip(frames: np.ndarray, config: vvc.VVCConfig, qps: Sequence[int], scores: CurveScores, bar: tqdm | None = None) -> list[dict]:
    out = []
    for qp in qps:
        p = vvc.vvc_point(frames, qp, config)
        out.append({"qp": qp, "kbps": p.kbps, "encode_fps": p.encode_fps, **scores(frames, p.decoded_frames)})
        if bar is not None:
            bar.set_postfix_str(f"{config.label()} QP {qp}", refresh=False)
            bar.update(len(frames))
    return out


def curve_of(per_clip: list[list[dict]], metric: str) -> Curve:
    """Per QP, the mean over clips of kbps and of the metric."""
    by_qp = list(zip(*per_clip))
    return Curve.of([np.mean([p["kbps"] for p in ps]) for ps in by_qp], [np.mean([p[metric] for p in ps]) for ps in by_qp], BD_METRICS[metric])


def run(cfg: SweepConfig, argv: Sequence[str] = ()) -> dict:
    refuse_overwrite(cfg.out, cfg.name, cfg.force)
    vvc.check_ffmpeg()
    clips = list_clips(cfg.data, cfg.clips)
    started = time.perf_counter()
    references = [sender_crops(c, max_frames=cfg.max_frames) for c in clips]
    scores = CurveScores(cfg.metric_stride)
    results = []
    total = len(cfg.candidates) * len(cfg.qps) * sum(len(r) for r in references)
    with progress_bar(total=total, desc="vvc sweep", unit="frame") as bar:  # ~30 min of VVenC: say where it is
        for config in cfg.candidates:
            t = time.perf_counter()
            per_clip = [sweep_clip(ref, config, cfg.qps, scores, bar) for ref in references]
            results.append({"config": asdict(config), "label": config.label(), "per_clip": per_clip, "seconds": time.perf_counter() - t})
    base = results[0]
    for r in results:
        r["bd_rate_vs_default"] = {m: bd_rate(curve_of(base["per_clip"], m), curve_of(r["per_clip"], m)).value for m in BD_METRICS}
        r["curve"] = {m: asdict(curve_of(r["per_clip"], m)) for m in BD_METRICS}
        r["encode_fps"] = float(np.mean([p["encode_fps"] for clip in r["per_clip"] for p in clip]))
    best = min(results, key=choice_key)
    result = {
        "command": [sys.executable, "-m", "benchmarks.vvc_sweep", *argv],
        "clips": [c.name for c in clips], "frames": [len(r) for r in references], "qps": list(cfg.qps),
        "chosen": best["label"], "chosen_config": best["config"], "candidates": results,
        "seconds": time.perf_counter() - started,
    }  # fmt: skip
    write_results(cfg.out, cfg.name, result, markdown, plot, image_alt="VVenC settings: LPIPS against kbit/s")
    return result


def choice_key(result: dict) -> float:
    """Mean BD-rate against the default over the choice metrics (lower: a stronger anchor)."""
    values = [result["bd_rate_vs_default"][m] for m in CHOOSE_ON]
    return float(np.mean(values)) if all(v is not None for v in values) else float("inf")


def markdown(result: dict) -> str:
    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v:+.1f}%"

    lines = [
        "# The VVC anchor's settings", "",
        f"`python -m benchmarks.vvc_sweep`: {len(result['clips'])} clip(s) ({', '.join(result['clips'])}), "
        f"{sum(result['frames'])} frames of the sender's 256 px face crops, QPs {', '.join(map(str, result['qps']))}. "
        "BD-rate of each candidate's curve against the default's (negative: the same quality for fewer bits, a stronger anchor).",
        "", f"**Chosen: {result['chosen']}** (lowest mean BD-rate over {' and '.join(m.upper() for m in CHOOSE_ON)}).", "",
        "| settings | BD-rate LPIPS | BD-rate DISTS | BD-rate PSNR | encode fps | kbit/s at the QPs |", "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in result["candidates"]:
        bd = r["bd_rate_vs_default"]
        rates = ", ".join(f"{k:.1f}" for k in r["curve"]["psnr"]["kbps"])
        lines.append(f"| {r['label']} | {pct(bd['lpips'])} | {pct(bd['dists'])} | {pct(bd['psnr'])} | {r['encode_fps']:.1f} | {rates} |")
    lines += ["", "Encode fps: whole FFmpeg processes (start-up included) on the shared 2-core machine, 2 threads."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    from benchmarks.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for r in result["candidates"]:
        c = r["curve"]["lpips"]
        ax.plot(c["kbps"], c["quality"], "o-", markersize=3, label=r["label"], linewidth=2.5 if r["label"] == result["chosen"] else 1)
    ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, ax, path, "video kbit/s", "LPIPS-Alex (lower is better)")


def build_parser() -> argparse.ArgumentParser:
    d = SweepConfig()
    p = argparse.ArgumentParser(prog="python -m benchmarks.vvc_sweep", description="Which VVenC settings give the VVC anchor its best curve.")
    p.add_argument("--data", type=Path, default=d.data, help=f"folder of clips (default {d.data})")
    p.add_argument("--clips", type=int, default=d.clips, help=f"the first N clips by name (default {d.clips})")
    p.add_argument("--max-frames", type=int, default=d.max_frames, help=f"frames per clip (default {d.max_frames})")
    p.add_argument("--qps", type=_qps, default=d.qps, help=f"QP sweep (default {','.join(map(str, d.qps))})")
    p.add_argument("--out", type=Path, default=d.out)
    p.add_argument("--name", default=None, help=f"results are NAME.json/.md/.png (default {d.name})")
    p.add_argument("--smoke", action="store_true", help="1 clip, 16 frames, 2 QPs, 3 candidates")
    p.add_argument("--force", action="store_true", help="overwrite earlier results of the same name")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    cfg = SweepConfig.smoke() if args.smoke else SweepConfig(clips=args.clips, max_frames=args.max_frames, qps=args.qps)
    cfg.data, cfg.out, cfg.force = args.data, args.out, args.force
    cfg.name = args.name or cfg.name
    return run_cli(lambda: run(cfg, argv), markdown)


if __name__ == "__main__":
    sys.exit(main())
