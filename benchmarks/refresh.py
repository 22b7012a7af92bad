"""Where to put the scene-cut threshold of ``sender/refresh.py``: measured on dev clips.

    python -m benchmarks.refresh [--data ../shared/data/talking-heads/dev] [--max-frames 250]
                                 [--out benchmarks/results] [--force]

For every dev clip, the sender's own face tracker crops each frame; we record the colour
histogram distance between consecutive crops (what a cut-free shot produces: head motion,
talking, lighting flicker) and between the last crop of each clip and the first crop of every
other clip (what a hard cut between two calls or cameras produces). A good threshold sits
between the largest within-clip distance and the smallest cross-clip one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.provenance import git_state, machine
from benchmarks.rd import DEFAULT_DATA, VIDEO_SUFFIXES
from codec.face_tracker import FaceCropper
from codec.media import video_io
from codec.progress import progress_bar
from sender.refresh import RefreshConfig, colour_histogram, histogram_distance


def clip_histograms(path: Path, max_frames: int) -> list[np.ndarray]:
    with FaceCropper(out_size=128) as cropper:
        hists = []
        for i, frame in enumerate(video_io.iter_frames(path, fps=25)):
            if i >= max_frames:
                break
            hists.append(colour_histogram(cropper.update(frame).crop))
    return hists


def measure(data: Path, max_frames: int, progress: bool = True) -> dict:
    clips = sorted(p for p in data.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    per_clip = {c.name: clip_histograms(c, max_frames) for c in progress_bar(clips, desc="refresh", unit="clip", disable=not progress)}
    within = {name: [histogram_distance(a, b) for a, b in zip(h, h[1:])] for name, h in per_clip.items()}
    pairs = [(a, b) for a in per_clip for b in per_clip if a != b and per_clip[a] and per_clip[b]]
    across = [histogram_distance(per_clip[a][-1], per_clip[b][0]) for a, b in pairs]
    all_within = np.concatenate([np.asarray(v) for v in within.values() if v])
    threshold = RefreshConfig().cut_distance
    return {
        "data": str(data),
        "clips": len(per_clip),
        "within_pairs": int(all_within.size),
        "across_pairs": len(across),
        "within": {"max": float(all_within.max()), "p99.9": float(np.percentile(all_within, 99.9)), "median": float(np.median(all_within))},
        "within_max_per_clip": {k: float(max(v)) for k, v in within.items() if v},
        "across": {"min": float(min(across)), "p1": float(np.percentile(across, 1)), "median": float(np.median(across))},
        "threshold": threshold,
        "false_cuts": int((all_within > threshold).sum()),
        "missed_cuts": int(sum(d <= threshold for d in across)),
        "missed_same_identity": int(sum(d <= threshold and _source(a) == _source(b) for d, (a, b) in zip(across, pairs))),
        "_within_all": all_within.tolist(),
        "_across_all": across,
    }


def _source(clip_name: str) -> str:
    """Clips of one person and setting share a name stem in our dev set (e.g. MEAD W011_front_*)."""
    return clip_name.split("_front_")[0].split("_clip")[0]


def markdown(r: dict) -> str:
    return "\n".join([
        "# Scene-cut threshold for keyframe refresh",
        "",
        f"{r['clips']} dev clips cropped by the sender's face tracker; colour-histogram L1 distance (0-2) of consecutive crops.",
        "",
        "| pairs | count | min | median | p99.9 / p1 | max |",
        "|---|---|---|---|---|---|",
        f"| within a clip (no cut) | {r['within_pairs']} | – | {r['within']['median']:.3f} | {r['within']['p99.9']:.3f} | {r['within']['max']:.3f} |",
        f"| across clips (a cut) | {r['across_pairs']} | {r['across']['min']:.3f} | {r['across']['median']:.3f} | {r['across']['p1']:.3f} | – |",
        "",
        f"Threshold in `RefreshConfig.cut_distance`: {r['threshold']}: {r['false_cuts']} false cuts within clips, "
        f"{r['missed_cuts']} of {r['across_pairs']} cuts missed by the histogram alone: {r['missed_same_identity']} of those "
        "join two clips of the same person in the same setting (MEAD's W011 clips), where the old keyframe still fits; the "
        "tracker's box jump and the self-check cover the rest.",
        "",
        f"Machine: {r['machine']['cpu']}; commit {r['git']['commit'][:10]}{' (dirty tree)' if r['git']['dirty'] else ''}.",
    ]) + "\n"  # fmt: skip


def plot(r: dict, path: Path) -> None:
    from benchmarks.plots import plt, save_figure  # plots selects the headless backend first

    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = np.linspace(0, 2, 81)
    ax.hist(r["_within_all"], bins=bins, alpha=0.7, label="consecutive crops, same clip", log=True)
    ax.hist(r["_across_all"], bins=bins, alpha=0.7, label="last crop of one clip, first of another", log=True)
    ax.axvline(r["threshold"], color="k", linestyle="--", label=f"cut threshold {r['threshold']}")
    save_figure(fig, ax, path, "colour histogram L1 distance", "pairs (log)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--max-frames", type=int, default=250)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    out = args.out / "refresh_cuts.json"
    if out.exists() and not args.force:
        print(f"refresh: {out} exists: pass --force to overwrite it", file=sys.stderr)
        return 2
    r = measure(args.data, args.max_frames) | {"machine": machine(), "git": git_state()}
    args.out.mkdir(parents=True, exist_ok=True)
    plot(r, args.out / "refresh_cuts.png")
    out.write_text(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, indent=2))
    (args.out / "refresh_cuts.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
