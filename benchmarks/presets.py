"""Choosing avfr's encoder presets by measurement (issue 16, item 1): the settings behind
``avfr encode --preset``.

    python -m benchmarks.presets [--data DIR] [--clips 2] [--max-frames 250] [--targets 2,4,8,16,30]
                                 [--metric lpips] [--out benchmarks/results] [--name presets] [--smoke] [--force]

Every candidate in :data:`CANDIDATES` (existing encode settings only: keyframe quality,
refresh policy, motion steps and intra period) is a real sender pass and a real decode of
each clip, scored against the sender's own face crops (as ``benchmarks.rd``): video kbit/s
(``avfr info``'s video, the audio and its framing apart), LPIPS and DISTS on 1 in
``--metric-stride`` frames, PSNR on all. Per target rate, the preset is the candidate with the
best ``--metric`` among those whose mean video rate is at most the target (10% above it
allowed, ``rate_tolerance``), the way an
encoder's presets are chosen; a target below every candidate gets the cheapest one, marked
as the floor. The table to paste into ``sender/presets.py`` is printed and written to
``presets.md`` with the candidates, their lower envelope (the points no cheaper candidate
beats) and a plot.

The grid is the keyframe ladder (VVC intra QP 47 ... 20) crossed with five refresh policies at
the default motion steps, plus coarser and finer motion at three keyframe qualities: 39
candidates. Run time: ~0.1 s per frame per candidate on 2 idle cores (sender ~30 fps,
receiver ~18 fps, metrics), so the defaults (2 clips x 250 frames) take ~35-40 min; on the
shared machine the smoke check ran at ~1 s a frame.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.bdrate import Curve, envelope
from benchmarks.provenance import refuse_overwrite, run_cli, write_results
from benchmarks.rd import BD_METRICS, DEFAULT_DATA, REPO, CurveScores, RDConfig, list_clips, run_settings, sender_crops
from codec.errors import InputError
from codec.progress import progress_bar
from sender.presets import EncodeSettings

LOWER_IS_BETTER = BD_METRICS
KEYFRAME_LADDER = (47, 40, 33, 29, 24, 20)  # VVC intra QP at the model's 128 px: ~0.8 to ~5.8 KB
REFRESH_POLICIES = {
    "one keyframe": EncodeSettings(refresh=False),
    "default refresh": EncodeSettings(),
    "refresh at 3 dB, >= 2 s": EncodeSettings(refresh_min_interval=2.0, refresh_psnr_drop=3.0),
    "refresh at 2 dB, >= 1 s": EncodeSettings(refresh_min_interval=1.0, refresh_psnr_drop=2.0),
    "refresh at 1 dB, >= 1 s": EncodeSettings(refresh_min_interval=1.0, refresh_psnr_drop=1.0),
}
MOTION = {
    "coarse motion": EncodeSettings(position_step_inv=32, jacobian_step_inv=8, intra_period=100),
    "fine motion": EncodeSettings(position_step_inv=128, jacobian_step_inv=32),
    "finest motion": EncodeSettings(position_step_inv=256, jacobian_step_inv=32),
}


def _grid() -> list[EncodeSettings]:
    out = [EncodeSettings(keyframe_quality=q).over(policy) for q in KEYFRAME_LADDER for policy in REFRESH_POLICIES.values()]
    out += [EncodeSettings(keyframe_quality=q).over(motion) for q in (47, 29, 20) for motion in MOTION.values()]
    return out


CANDIDATES: list[EncodeSettings] = _grid()


@dataclass
class PresetSweepConfig:
    data: Path = DEFAULT_DATA
    out: Path = REPO / "benchmarks" / "results"
    name: str = "presets"
    clips: int = 2
    max_frames: int = 250
    targets: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0, 30.0)
    metric: str = "lpips"
    metric_stride: int = 5
    rate_tolerance: float = 0.1  # a preset may run this much above its target rate
    model: Path | None = None
    force: bool = False
    candidates: list[EncodeSettings] = field(default_factory=lambda: list(CANDIDATES))

    @classmethod
    def smoke(cls) -> "PresetSweepConfig":
        return cls(name="presets-smoke", clips=1, max_frames=10, metric_stride=3, targets=(2.0, 30.0),
                   candidates=[EncodeSettings(keyframe_quality=47, refresh=False), EncodeSettings(keyframe_quality=24)])  # fmt: skip


def measure(clip: Path, reference: np.ndarray, settings: EncodeSettings, label: str, rd_cfg: RDConfig, scores: CurveScores,
            workdir: Path) -> dict:  # fmt: skip
    """One candidate on one clip: its video rate and quality."""
    decoded = run_settings(clip, label, settings, rd_cfg, reference, workdir, [])
    return {"kbps": 8 * decoded.bits.video_bytes / (len(reference) / rd_cfg.fps) / 1000.0, **scores(reference, decoded.decoded)}


def choose(candidates: list[dict], targets: Sequence[float], metric: str, tolerance: float = 0.1) -> list[dict]:
    """Per target: the best ``metric`` at a mean rate within the target, ``tolerance`` above it
    allowed (a preset named for 8 kbit/s may run at 8.7: its rate varies more than that from
    clip to clip); else the cheapest candidate, as the floor."""
    lower = LOWER_IS_BETTER[metric]
    chosen = []
    for target in targets:
        feasible = [c for c in candidates if c["kbps"] <= target * (1 + tolerance)]
        if feasible:
            best = min(feasible, key=lambda c: (c[metric] if lower else -c[metric], c["kbps"]))
            chosen.append({"target_kbps": target, "floor": False, **best})
        else:
            chosen.append({"target_kbps": target, "floor": True, **min(candidates, key=lambda c: c["kbps"])})
    return chosen


def preset_name(target: float) -> str:
    return f"{target:g}k"


def run(cfg: PresetSweepConfig, argv: Sequence[str] = ()) -> dict:
    if cfg.metric not in LOWER_IS_BETTER:
        raise InputError(f"--metric must be one of {', '.join(LOWER_IS_BETTER)}, got {cfg.metric!r}")
    refuse_overwrite(cfg.out, cfg.name, cfg.force)
    rd_cfg = RDConfig(model=cfg.model, max_frames=cfg.max_frames)
    clips = list_clips(cfg.data, cfg.clips)
    started = time.perf_counter()
    scores = CurveScores(cfg.metric_stride)
    per_clip: list[list[dict]] = []
    bar = progress_bar(total=len(clips) * len(cfg.candidates), desc="presets", unit="candidate")
    with tempfile.TemporaryDirectory(prefix="avfr-presets-") as tmp, bar:
        for clip in clips:
            reference = sender_crops(clip, cfg.model, rd_cfg.fps, cfg.max_frames, rd_cfg.size)
            per_clip.append([])
            for i, s in enumerate(cfg.candidates):
                bar.set_postfix_str(f"{clip.stem[:32]} {s.label()[:40]}", refresh=False)
                per_clip[-1].append(measure(clip, reference, s, f"candidate{i}", rd_cfg, scores, Path(tmp)))
                bar.update(1)
    candidates = [
        {"settings": asdict(s), "label": s.label(), **{k: float(np.mean([clip[i][k] for clip in per_clip])) for k in ("kbps", *LOWER_IS_BETTER)}}
        for i, s in enumerate(cfg.candidates)
    ]  # fmt: skip
    front, _ = envelope(Curve.of([c["kbps"] for c in candidates], [c[cfg.metric] for c in candidates], LOWER_IS_BETTER[cfg.metric]))
    result = {
        "command": [sys.executable, "-m", "benchmarks.presets", *argv], "clips": [c.name for c in clips],
        "max_frames": cfg.max_frames, "metric": cfg.metric, "candidates": candidates,
        "envelope_kbps": list(front.kbps), "chosen": choose(candidates, cfg.targets, cfg.metric, cfg.rate_tolerance), "rate_tolerance": cfg.rate_tolerance,
        "per_clip": per_clip, "seconds": time.perf_counter() - started,
    }  # fmt: skip
    write_results(cfg.out, cfg.name, result, markdown, plot, image_alt=f"candidates: {cfg.metric.upper()} against video kbit/s")
    return result


def preset_table_code(result: dict) -> str:
    """The ``PRESETS`` entries to paste into sender/presets.py."""
    lines = []
    for c in result["chosen"]:
        settings = ", ".join(f"{k}={v!r}" for k, v in c["settings"].items() if v is not None)
        lines.append(f'Preset("{preset_name(c["target_kbps"])}", EncodeSettings({settings}), {c["kbps"]:.1f}, "...")')
    return "\n".join(lines)


def markdown(result: dict) -> str:
    m = result["metric"]
    lines = [
        "# avfr's encoder presets, chosen by measurement", "",
        f"`python -m benchmarks.presets`: {len(result['clips'])} clip(s) ({', '.join(result['clips'])}), at most "
        f"{result['max_frames']} frames each; {len(result['candidates'])} candidate settings, each a real sender pass and "
        f"decode. Per target: the best {m.upper()} among the candidates whose mean video kbit/s is within it "
        f"(+{100 * result['rate_tolerance']:g}% allowed).", "",
        "| preset | target kbit/s | chosen settings | video kbit/s | LPIPS | DISTS | PSNR |", "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for c in result["chosen"]:
        floor = " (floor: no candidate is cheaper)" if c["floor"] else ""
        lines.append(f"| `{preset_name(c['target_kbps'])}` | {c['target_kbps']:g} | {c['label']}{floor} | {c['kbps']:.2f} | "
                     f"{c['lpips']:.4f} | {c['dists']:.4f} | {c['psnr']:.2f} |")  # fmt: skip
    lines += ["", "For `sender/presets.py`:", "", "```python", preset_table_code(result), "```", "",
              "## Every candidate", "", "| settings | video kbit/s | LPIPS | DISTS | PSNR | on the envelope |", "|---|---|---|---|---|---|"]  # fmt: skip
    for c in sorted(result["candidates"], key=lambda c: c["kbps"]):
        on = "yes" if c["kbps"] in result["envelope_kbps"] else ""
        lines.append(f"| {c['label']} | {c['kbps']:.2f} | {c['lpips']:.4f} | {c['dists']:.4f} | {c['psnr']:.2f} | {on} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    from benchmarks.plots import plt, save_figure

    m = result["metric"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    cands = result["candidates"]
    ax.plot([c["kbps"] for c in cands], [c[m] for c in cands], "o", color="tab:gray", markersize=4, label="candidates")
    front = sorted((c["kbps"], c[m]) for c in cands if c["kbps"] in result["envelope_kbps"])
    ax.plot(*zip(*front), "-", color="tab:red", label="lower envelope")
    for c in result["chosen"]:
        ax.annotate(preset_name(c["target_kbps"]), (c["kbps"], c[m]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, ax, path, "video kbit/s", f"{m.upper()} ({'lower' if LOWER_IS_BETTER[m] else 'higher'} is better)")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated kbit/s such as 2,4,8, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    d = PresetSweepConfig()
    p = argparse.ArgumentParser(prog="python -m benchmarks.presets", description="Choose avfr's encoder presets by measurement.")
    p.add_argument("--data", type=Path, default=d.data)
    p.add_argument("--clips", type=int, default=d.clips, help=f"the first N clips by name (default {d.clips})")
    p.add_argument("--max-frames", type=int, default=d.max_frames, help=f"frames per clip (default {d.max_frames})")
    p.add_argument("--targets", type=_floats, default=d.targets, help="target video kbit/s, one preset each (default 2,4,8,16,30)")
    p.add_argument("--metric", default=d.metric, choices=tuple(LOWER_IS_BETTER), help=f"what 'best' means (default {d.metric})")
    p.add_argument("--model", type=Path, default=None, help="model .safetensors (default: the bundled one)")
    p.add_argument("--out", type=Path, default=d.out)
    p.add_argument("--name", default=None, help=f"results are NAME.json/.md/.png (default {d.name})")
    p.add_argument("--smoke", action="store_true", help="1 clip, 10 frames, 2 candidates")
    p.add_argument("--force", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    cfg = PresetSweepConfig.smoke() if a.smoke else PresetSweepConfig(clips=a.clips, max_frames=a.max_frames, targets=a.targets, metric=a.metric)
    cfg.data, cfg.out, cfg.model, cfg.force, cfg.name = a.data, a.out, a.model, a.force, a.name or cfg.name
    return run_cli(lambda: run(cfg, argv), markdown)


if __name__ == "__main__":
    sys.exit(main())
