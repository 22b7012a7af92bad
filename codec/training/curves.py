"""Is the face still learning? The mouth, eye and picture measures of every checkpoint of a run.

    python -m codec.training.curves RUN_DIR [--data DIR] [--clips 6] [--frames 60] [--plot PNG] [--threads N] [--baseline JSON]

Loss curves say whether the optimiser is still going down; they do not say whether the mouth
opens with the speaker. This evaluates every ``model-step*.safetensors`` the trainer exported
into RUN_DIR (one each ``export_every`` steps) on a small fixed subset of dev clips with
speech, with the model card's protocol and measures (:func:`codec.training.evaluate.evaluate_clip`):
mouth correlation and amplitude ratio, eye correlation, mouth-region LPIPS, whole-picture
LPIPS and PSNR, each with the clip's speech and with silence; then plots them against the
training step, so that "the mouth measures have flattened" is read off a picture.

Results are cached per checkpoint in ``RUN_DIR/curves.json`` (file name, sha256 and the
settings they were made with): re-running evaluates only the checkpoints exported since, and
a change of subset starts the cache afresh. The subset is chosen by name, spread through the
sorted dev clips with speech, so every checkpoint is judged on the same frames. Checkpoints
of any image size load through :func:`codec.model.load_model` and read the dev clips prepared
at their size.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from codec.defaults import prepared_dir
from codec.model import file_sha256, load_model, read_metadata
from codec.training.evaluate import TARGETS, evaluate_model, evenly_spread, speech_clip_names

CACHE = "curves.json"
PLOT = "curves.png"
CHECKPOINTS = "model-step*.safetensors"


@dataclass(frozen=True)
class CurveSettings:
    """What a cached result depends on: a change of any of these re-evaluates every checkpoint."""

    data: str
    clips: int = 6
    frames: int = 60  # per clip, the keyframe included


# Panels: (title, [(mean key, label)], target or None). Means are over the subset's clips with speech.
STYLES = {"with speech": ("-", "tab:red"), "with silence": (":", "tab:gray"), "repeat the keyframe": ("--", "tab:brown")}
BASELINE_STYLE = ("-", "tab:blue")  # an A/B's other run, with speech, on the same panels


def _with_and_without(key: str) -> list[tuple[str, str]]:
    return [(f"speech_clips_{key}", "with speech"), (f"speech_clips_{key}_without_speech", "with silence")]


PANELS = [
    ("mouth correlation", _with_and_without("mouth_corr"), TARGETS.mouth_corr),
    ("mouth amplitude ratio", _with_and_without("mouth_amplitude_ratio"), TARGETS.mouth_amplitude_ratio),
    ("eye correlation", _with_and_without("eye_corr"), None),
    ("mouth LPIPS (lower is better)", _with_and_without("mouth_lpips") + [("speech_clips_repeat_keyframe_mouth_lpips", "repeat the keyframe")], None),
    ("LPIPS (lower is better)", _with_and_without("lpips"), None),
    ("PSNR dB", _with_and_without("psnr_db"), None),
]


def checkpoint_step(path: Path) -> int:
    """The training step a checkpoint was exported at: its metadata, else its file name."""
    step = read_metadata(path).get("train_step")
    if step is not None:
        return int(step)
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else 0


def checkpoints(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob(CHECKPOINTS), key=checkpoint_step)


def default_data(run_dir: Path) -> Path:
    """The prepared folder the run trained from (its dev clips sit beside the training clips)."""
    import yaml

    cfg_path = run_dir / "train_config.yaml"
    if cfg_path.is_file():
        data = yaml.safe_load(cfg_path.read_text()).get("data")
        if data:
            return Path(data).expanduser()
    return prepared_dir("dev")


def load_cache(path: Path, settings: CurveSettings) -> dict:
    if path.is_file():
        cache = json.loads(path.read_text())
        if cache.get("settings") == asdict(settings):
            return cache
        print(f"curves: {path} was made with other settings ({cache.get('settings')}): evaluating every checkpoint again")
    return {"settings": asdict(settings), "checkpoints": {}}


def evaluate_checkpoint(path: Path, settings: CurveSettings, names_by_size: dict[int, list[str]]) -> dict:
    """The subset's means for one checkpoint (the model card's protocol, speech and silence)."""
    size = load_model(path).config.image_size
    if size not in names_by_size:
        names_by_size[size] = evenly_spread(speech_clip_names(Path(settings.data), size), settings.clips)
    result = evaluate_model(path, Path(settings.data), settings.frames, progress=False, audio_ablation=True, clip_names=names_by_size[size])
    return {"step": checkpoint_step(path), "sha256": file_sha256(path), "image_size": size, "clips": sorted(result["clips"]), "mean": result["mean"]}


def update(run_dir: Path, settings: CurveSettings, cache_path: Path | None = None) -> dict:
    """Evaluate the checkpoints not in the cache yet (or changed since), saving after each."""
    cache_path = cache_path or run_dir / CACHE
    cache = load_cache(cache_path, settings)
    names_by_size: dict[int, list[str]] = {}
    for path in checkpoints(run_dir):
        known = cache["checkpoints"].get(path.name)
        if known is not None and known["sha256"] == file_sha256(path):
            continue
        print(f"curves: evaluating {path.name}", flush=True)
        cache["checkpoints"][path.name] = evaluate_checkpoint(path, settings, names_by_size)
        cache_path.write_text(json.dumps(cache, indent=2) + "\n")
    return cache


def rows(cache: dict) -> list[dict]:
    """Every cached checkpoint by step (also one since deleted from the run: its figures stand)."""
    return sorted(cache["checkpoints"].values(), key=lambda r: r["step"])


def plot(cache: dict, path: Path, title: str, baseline: dict | None = None, baseline_label: str = "baseline") -> Path:
    """Every panel against step; ``baseline`` (another run's cache, e.g. the run an A/B forked
    from) adds its with-speech line, so both arms are read off one picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = rows(cache)
    steps = [r["step"] for r in records]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), squeeze=False)
    for ax, (name, lines, target) in zip(axes.flat, PANELS):
        for key, label in lines:
            values = [r["mean"].get(key) for r in records]
            if any(v is not None for v in values):
                style, colour = STYLES[label]
                ax.plot(steps, [float("nan") if v is None else v for v in values], style, color=colour, marker="o", markersize=3, label=label)
        if baseline is not None:
            _plot_baseline(ax, baseline, lines[0][0], baseline_label)
        if target is not None:
            ax.axhline(target, color="tab:green", linewidth=0.8, linestyle="--", label=f"target {target:g}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    s = cache["settings"]
    fig.suptitle(f"{title}: {s['clips']} dev clips with speech x {s['frames']} frames, per exported checkpoint", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_baseline(ax, baseline: dict, key: str, label: str) -> None:  # noqa: ANN001
    records = [r for r in rows(baseline) if r["mean"].get(key) is not None]
    if records:
        style, colour = BASELINE_STYLE
        ax.plot([r["step"] for r in records], [r["mean"][key] for r in records], style, color=colour, marker="s", markersize=3, label=f"{label}, with speech")


def table(cache: dict) -> str:
    head = "step  size  mouth corr (silent)  mouth amp (silent)  eye corr  mouth LPIPS (silent)  LPIPS   PSNR"
    out = [head]
    f = lambda v, d=3: "  n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
    for r in rows(cache):
        m = r["mean"]
        out.append(
            f"{r['step']:>6} {r['image_size']:>4}  {f(m.get('speech_clips_mouth_corr'))} ({f(m.get('speech_clips_mouth_corr_without_speech'))})"
            f"        {f(m.get('speech_clips_mouth_amplitude_ratio'))} ({f(m.get('speech_clips_mouth_amplitude_ratio_without_speech'))})"
            f"     {f(m.get('speech_clips_eye_corr'))}     {f(m.get('speech_clips_mouth_lpips'), 4)} ({f(m.get('speech_clips_mouth_lpips_without_speech'), 4)})"
            f"     {f(m.get('speech_clips_lpips'), 4)}  {f(m.get('speech_clips_psnr_db'), 2)}"
        )  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codec.training.curves", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, default=None, help="prepared data with dev clips (default: the run's training data)")
    parser.add_argument("--clips", type=int, default=CurveSettings.clips, help="dev clips with speech in the subset")
    parser.add_argument("--frames", type=int, default=CurveSettings.frames, help="frames per clip, the keyframe included")
    parser.add_argument("--plot", type=Path, default=None, help=f"the PNG (default RUN_DIR/{PLOT})")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--baseline", type=Path, default=None, help="another run's curves.json to draw beside this run's (an A/B's other arm)")
    parser.add_argument("--baseline-label", default="baseline", help="its name in the legend")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not checkpoints(args.run_dir):
        print(f"curves: no {CHECKPOINTS} in {args.run_dir}: the trainer exports them every export_every steps")
        return 1
    settings = CurveSettings(str((args.data or default_data(args.run_dir)).expanduser()), args.clips, args.frames)
    cache = update(args.run_dir, settings)
    print(table(cache))
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    print(f"wrote {plot(cache, args.plot or args.run_dir / PLOT, args.run_dir.name, baseline, args.baseline_label)} and {args.run_dir / CACHE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
