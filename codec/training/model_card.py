"""Write the shipped model's card: data, steps, compute, dev metrics, loss curves, pictures.

Run as ``python -m codec.training.model_card RUN_DIR --model FINAL --early EARLY``. The loss
curves, the numbers and the plot of the mouth opening over time (numbers only) go into
``codec/weights/`` (committed); the sample grids show faces from the research-only clips,
which must never be committed, so they are written to ``out/`` (git-ignored) and the card
says how to make them. Every verdict in the card's reading is computed from the numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from codec.defaults import prepared_dir
from codec.media.public_face import public_photo
from codec.model import count_parameters, load_model, read_metadata
from codec.training.evaluate import (
    TARGETS,
    ClipFrames,
    cross_identity_grid,
    dev_clips,
    evaluate_model,
    evenly_spread,
    same_identity_grid,
    speech_clip_names,
    summary_text,
)
from codec.training.loss_config import LossConfig, move_retired_overrides

if TYPE_CHECKING:
    import numpy as np

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
PUBLIC_GRID = "cross_identity_public.png"  # the one grid that can be committed: no research-only pixels
MOUTH_PLOT = "mouth_opening.png"  # real and decoded mouth opening over time: numbers, no pixels
PLOTTED_CLIPS = 4  # dev clips with speech in the mouth plot (their series are kept in dev_metrics.json)
FPS = 25.0  # the prepared data's frame rate


def plot_losses(log_csv: Path, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(log_csv.open()))
    keys = [k for k in rows[0] if k not in ("step", "samples_per_s", "lr")]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k in keys:
        pts = [(int(r["step"]), float(r[k])) for r in rows if r.get(k) not in (None, "")]
        if pts:
            ax.plot(*zip(*pts), label=k, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{log_csv.parent.name} training losses (mean over each logging window)")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def plotted_clips(result: dict, count: int = PLOTTED_CLIPS) -> list[str]:
    """Clips with speech spread evenly through the sorted list: chosen by name, not by score."""
    return evenly_spread(sorted(n for n, m in result["clips"].items() if m["has_speech"] and n in result.get("series", {})), count)


def evaluate_plotted_clips(model_path: Path, data: Path, max_frames: int) -> dict:
    """The card's protocol on the clips its mouth plot shows, and no others: the plot without
    the cost of the whole card."""
    names = evenly_spread(speech_clip_names(data, load_model(model_path).config.image_size), PLOTTED_CLIPS)
    return evaluate_model(model_path, data, max_frames, audio_ablation=True, clip_names=names)


def plot_mouth_opening(result: dict, out_png: Path) -> None:
    """One panel per plotted clip: the real mouth opening, the decoded one with the clip's speech
    and with silence, over time. Numbers only: no frame of the research data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["series"])
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.1 * len(names)), squeeze=False)
    styles = {"real": ("real (the sender's frames)", "black", "-"), "decoded": ("decoded, with the speech", "tab:red", "-"),
              "decoded_without_speech": ("decoded, with silence", "tab:gray", ":")}  # fmt: skip
    for ax, name in zip(axes[:, 0], names):
        series, clip = result["series"][name], result["clips"][name]
        t = [f / FPS for f in series["frame"]]
        for key, (label, colour, line) in styles.items():
            if key in series:
                ax.plot(t, [float("nan") if v is None else v for v in series[key]], line, color=colour, label=label, linewidth=1.2)
        ax.set_title(f"{name}: corr {_num(clip['mouth_corr'])}, amplitude ratio {_num(clip['mouth_amplitude_ratio'])}", fontsize=8)
        ax.set_ylabel("lip gap / eye corners", fontsize=7)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time in the clip, s")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Mouth opening, real and decoded: {Path(result['model']).name} on dev clips", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def _num(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def load_photos(paths: list[Path]) -> list["np.ndarray"]:
    import numpy as np
    from PIL import Image

    return [np.asarray(Image.open(path).convert("RGB")) for path in paths]


def still_inputs(photos: list["np.ndarray"], size: int) -> list[torch.Tensor]:
    """Face crops of still photos through the same tracker and priors as the codec."""
    from codec.face_tracker import FaceCropper
    from codec.model_input import ModelInputMaker, crop_size_for

    maker = ModelInputMaker(size, static_image_mode=True)
    out = []
    for rgb in photos:
        crop = FaceCropper(out_size=crop_size_for(size)).update(rgb)
        if crop.face_found:
            x5, found = maker.make(crop.crop)
            if found:
                out.append(x5)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, nargs="?", help="the run's folder (train_config.yaml, log.csv); not needed with --mouth-plot-only")
    parser.add_argument("--model", type=Path, required=True, help="the model to ship (fp16 safetensors)")
    parser.add_argument("--early", type=Path, default=None, help="the same run's checkpoint at 1/10 of the steps (or at step 0 of a warm-started run)")
    parser.add_argument("--data", type=Path, default=prepared_dir("dev"))
    parser.add_argument("--stills", type=Path, default=None, help="folder of photos for the cross-identity grid")
    parser.add_argument("--max-frames", type=int, default=100)
    parser.add_argument("--pictures", type=Path, default=Path("out/model_card"))
    parser.add_argument("--early-label", default="", help="what --early is when it is not the same run's checkpoint (e.g. the previous default)")
    parser.add_argument("--compute", default="", help="free text: where and how long it trained")
    parser.add_argument("--history", default="", help="free text: changes made to the run while it trained")
    parser.add_argument("--pictures-only", action="store_true", help="only the grids and plots (the metrics of dev_metrics.json stand)")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="where the card and its committed files go (default: the package's weights)")
    parser.add_argument("--mouth-plot-only", action="store_true", help=f"only {MOUTH_PLOT}: evaluates the plotted clips alone (the card stands)")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    if args.mouth_plot_only:
        result = evaluate_plotted_clips(args.model, args.data, args.max_frames)
        plot_mouth_opening(result, args.out / MOUTH_PLOT)
        print(f"{summary_text(result)}\nwrote {args.out / MOUTH_PLOT}")
        return 0
    if args.run_dir is None or args.early is None:
        parser.error("RUN_DIR and --early are needed for the card (or pass --mouth-plot-only)")
    if args.pictures_only:
        final, early = (json.loads((args.out / "dev_metrics.json").read_text())[k] for k in ("final", "early"))
    else:
        if (args.run_dir / "log.csv").is_file():
            plot_losses(args.run_dir / "log.csv", args.out / "loss_curves.png")
        else:  # a run resumed on another machine from the snapshot: its log stayed behind
            print(f"model card: {args.run_dir / 'log.csv'} not found: {args.out / 'loss_curves.png'} is kept as it was")
        final = evaluate_model(args.model, args.data, args.max_frames, audio_ablation=True)
        early = evaluate_model(args.early, args.data, args.max_frames)
        final["series"] = {name: final["series"][name] for name in plotted_clips(final)}
        early.pop("series")
        (args.out / "dev_metrics.json").write_text(json.dumps({"final": final, "early": early}, indent=2) + "\n")
    if final.get("series"):
        plot_mouth_opening(final, args.out / MOUTH_PLOT)
    else:
        print(f"model card: {args.out / 'dev_metrics.json'} holds no mouth-opening series (made before they existed): {MOUTH_PLOT} not redrawn")

    model = load_model(args.model)
    clips = dev_clips(args.data, model.config.image_size, args.max_frames)
    same_identity_grid(model, clips[:: max(1, len(clips) // 6)][:6], args.pictures / "same_identity.png")
    driver: ClipFrames = max(clips, key=lambda c: len(c.inputs))
    if args.stills is not None:
        stills = still_inputs(load_photos(sorted(args.stills.glob("*"))[:5]), model.config.image_size)
        cross_identity_grid(model, stills, driver, args.pictures / "cross_identity.png")
    public = still_inputs([public_photo()], model.config.image_size)
    cross_identity_grid(model, public, driver, args.out / PUBLIC_GRID, columns=8, show_driver=False)
    args.driver_name = driver.name
    print(card_text(args, final, early, model))
    (args.out / "MODEL_CARD.md").write_text(card_text(args, final, early, model))
    return 0


def run_facts(run_dir: Path) -> dict:
    """What the card states about data and recipe, read from the run (never typed in by hand)."""
    import yaml

    cfg = move_retired_overrides(yaml.safe_load((run_dir / "train_config.yaml").read_text()))
    data = Path(cfg["data"]).expanduser()
    index_path = data / "train" / "index.json" if (data / "train" / "index.json").is_file() else data / "index.json"
    index = json.loads(index_path.read_text())
    clips = [c for c in index["clips"] if c.get("split", "train") == "train"]
    weights = LossConfig.from_dict(cfg.get("losses") or {})
    losses = ["L1", "LPIPS-" + weights.lpips_backbone, "equivariance"]
    if weights.loss_landmark_flow:
        tol = weights.landmark_flow_tolerance_px
        losses.append(f"landmark flow (x{weights.loss_landmark_flow:g}{f', {tol:g} px tolerance' if tol else ''}; ours: docs/MODEL.md)")
    if weights.loss_feature_landmark_flow:
        tol = weights.feature_landmark_flow_tolerance_px
        losses.append(f"landmark flow on lips and eyes alone (x{weights.loss_feature_landmark_flow:g}, {tol:g} px tolerance)")
    if weights.loss_keypoint_landmarks:
        losses.append(f"keypoints on lip landmarks (x{weights.loss_keypoint_landmarks:g})")
    if weights.loss_mouth_l1 or weights.loss_mouth_perceptual:
        losses.append(f"mouth-region L1 (x{weights.loss_mouth_l1:g}) and LPIPS (x{weights.loss_mouth_perceptual:g})")
    if cfg.get("mouth_dropout"):
        losses.append(f"the mouth's motion withheld in {100 * cfg['mouth_dropout']:g}% of samples (only the speech explains it)")
    return {
        "clips": len(clips),
        "identities": len({c["identity"] for c in clips}),
        "frames": sum(c["n_frames"] for c in clips),
        "skipped": len(index.get("skipped", [])),
        "lr": cfg["lr_generator"],
        "batch": cfg["batch_size"],
        "gan_start": cfg["gan_start_step"],
        "milestones": [int(m * cfg["steps"]) for m in cfg["lr_milestones"]],  # fractions of the run, as the trainer reads them
        "losses": " + ".join(losses),
        "config": cfg["model"],
        "overrides": ", ".join(f"`{k}`" for k, v in (cfg.get("model_overrides") or {}).items() if v is True),
        "train_config": Path(cfg["run_dir"]).name,  # the run folder is named after its training config
        "sizes": " ".join(str(n) for n in index.get("sizes", [])),
        "warm_start": cfg.get("init_from"),
    }


def schedule_text(facts: dict, step: int) -> str:
    done = [m for m in facts["milestones"] if m < step]  # a drop at the last step trained nothing
    later = [m for m in facts["milestones"] if m >= step]
    if not done:
        return f"lr drops (x0.1) scheduled at steps {', '.join(map(str, later))}, none reached"
    return f"lr x0.1 at step {', '.join(map(str, done))}" + (f" (a later drop at {', '.join(map(str, later))} was not reached)" if later else "")


def early_label(meta_early: dict, given: str = "") -> str:
    """The early row's name: what the user said it is, else where it sits in the same run."""
    if given:
        return given
    return "same run at step 0 (its warm start)" if meta_early.get("train_step") == "0" else "same run, early checkpoint"


def warm_start_text(facts: dict) -> str:
    return f", warm-started from `{facts['warm_start']}`" if facts.get("warm_start") else ""


def gan_text(facts: dict, step: int) -> str:
    return f"GAN from step {facts['gan_start']}" if facts["gan_start"] < step else "no GAN phase (it was scheduled after the last step)"


def card_text(args: argparse.Namespace, final: dict, early: dict, model) -> str:
    meta = read_metadata(args.model)
    facts = run_facts(args.run_dir)
    step = int(meta.get("train_step", 0))
    history = f"\n  Run history: {args.history}." if args.history else ""
    meta_early = read_metadata(args.early)
    early_name = early_label(meta_early, args.early_label)
    f, e = final["mean"], early["mean"]
    rows = [
        ("shipped model", meta.get("train_step", "?"), f["lpips"], f["psnr_db"]),
        (early_name, meta_early.get("train_step", "?"), e["lpips"], e["psnr_db"]),
        ("repeat the keyframe (no motion)", "-", f["repeat_keyframe_lpips"], f["repeat_keyframe_psnr_db"]),
    ]
    table = "\n".join(f"| {n} | {s} | {lp:.4f} | {ps:.2f} |" for n, s, lp, ps in rows)
    frames = sum(c["frames"] for c in final["clips"].values())
    size = model.config.image_size
    return f"""# Model card: {args.model.stem}

The default model bundled with avfr (`codec/weights/{args.model.name}`, fp16).

- **Network**: AVFR-GAN as in `docs/MODEL.md`, configuration `{facts["config"]}`{f" with {facts['overrides']}" if facts["overrides"] else ""} ({size}x{size},
  10 keypoints with Jacobians), {count_parameters(model) / 1e6:.2f} M parameters (receiver side).
- **Data**: `avfr prepare ../shared/data/talking-heads/train/ DIR --sizes {facts["sizes"]}`:
  {facts["clips"]} clips of {facts["identities"]} identities ({facts["frames"]} frames of 25 fps face crops,
  {facts["skipped"]} clips skipped for want of a face), sampling balanced by identity. Research-only
  data: no frame of it is in this repository.
- **Training**: `avfr train {facts["train_config"]}`: Adam {facts["lr"]:g}, betas 0.5/0.999, {schedule_text(facts, step)};
  {facts["losses"]}; {gan_text(facts, step)}; {step} steps of batch {facts["batch"]}{warm_start_text(facts)}.
  Compute: {args.compute or "see the closing notes"}.{history}
- **Loss curves**: `loss_curves.png` beside this file.

## Same-identity reconstruction on dev/

Protocol (`codec/training/evaluate.py`): in each of the {len(final["clips"])} dev clips (identities unseen in
training), keyframe = first face frame, driving = each later frame (at most {args.max_frames}),
the clip's own audio; {frames} driving frames in all. LPIPS is AlexNet LPIPS v0.1; PSNR on
RGB at {size}x{size}. This measures the model alone (prepared crops, no keyframe coding).

| model | steps | mean LPIPS (lower is better) | mean PSNR dB |
|---|---|---|---|
{table}

Per-clip values: `dev_metrics.json`.

## The mouth and the eyes

{face_table(final, early, meta.get("train_step", "?"), f"{early_name} (step {meta_early.get('train_step', '?')})")}

Measures (`codec/face_measures.py`), on the driving frames: the mouth opening is the inner-lip
gap (MediaPipe face-mesh points 13-14) over the eye-corner distance (33-263), the eye opening
the eyelid gaps (159-145, 386-374) over the same distance, averaged over both eyes; MediaPipe
tracks the real and the decoded pictures alike, each resized to 256 px first. Per clip:
Pearson correlation of the decoded series with the real one, and amplitude ratio std(decoded) /
std(real); then the mean over clips. Mouth LPIPS: the box around the real frame's lips, a
quarter larger each side, scaled to 64x64. "With silence": the same frames rendered with the
silence window in place of the clip's speech. The eye opening also changes when the head
nods, so part of the eyes' correlation is pose, not blinks.

![real and decoded mouth opening over time]({MOUTH_PLOT})

`{MOUTH_PLOT}`: the mouth opening over time in {len(final.get("series", {}))} dev clips with speech
(chosen by name), real and decoded, with speech and with silence; numbers only.

## Pictures

![a public-domain photo animated by a dev clip]({PUBLIC_GRID})

`{PUBLIC_GRID}` (committed): NASA's astronaut portrait (public domain, shipped by
scikit-image), the first picture, animated by the motion and speech of the dev clip
`{getattr(args, "driver_name", "?")}` (relative motion, as FOMM; the paper's cross-identity
setting). The driving frames are not shown: they are research-only data.

The other grids show faces from research-only clips, so they are not committed; make them with
`python -m codec.training.model_card RUN_DIR --model ... --early ... --stills ../shared/data/talking-heads/stills`
(written to `{args.pictures}/same_identity.png`: keyframe, then real | generated pairs;
`{args.pictures}/cross_identity.png`: stills animated by a dev clip with relative motion).

## Reading the numbers

{reading(final, early)}
"""


def face_table(final: dict, early: dict, step: object, early_name: str) -> str:
    """Speech clips' face measures: the shipped model with speech and with silence, its early
    checkpoint, the still keyframe, and the targets."""
    f, e = final["mean"], early["mean"]
    cols = ("mouth_corr", "mouth_amplitude_ratio", "eye_corr", "eye_amplitude_ratio", "mouth_lpips")
    rows = [
        ("shipped model, with the clip's speech", [f.get(f"speech_clips_{k}") for k in cols]),
        ("shipped model, with silence instead", [f.get(f"speech_clips_{k}_without_speech") for k in cols]),
        (f"{early_name}, with speech", [e.get(f"speech_clips_{k}") for k in cols]),
        ("repeat the keyframe (no motion)", [f.get(f"speech_clips_repeat_keyframe_{k}") for k in cols]),
    ]
    t = TARGETS
    lines = [
        f"On the {f.get('speech_clips_mouth_corr_clips', 0)} dev clips with speech (model at step {step}); mean over clips.",
        "",
        "| rendering | mouth corr | mouth amplitude ratio | eye corr | eye amplitude ratio | mouth LPIPS |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {name} | " + " | ".join(_num(v, 4 if k == "mouth_lpips" else 3) for k, v in zip(cols, vals)) + " |" for name, vals in rows]
    lines.append(f"| target | >= {t.mouth_corr:g} | >= {t.mouth_amplitude_ratio:g} | reported | reported | "
                 f"silence >= {100 * t.silence_mouth_lpips_worse:g}% worse |")  # fmt: skip
    return "\n".join(lines)


def face_reading(f: dict) -> list[str]:
    """The mouth targets and what the speech does, judged from the speech clips' means."""
    t, lines = TARGETS, []
    corr, amp = f.get("speech_clips_mouth_corr"), f.get("speech_clips_mouth_amplitude_ratio")
    if corr is None or amp is None:
        return ["- The mouth: no dev clip with speech had a measurable mouth opening; nothing to report."]
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines.append(
        f"- The mouth: the decoded mouth opening follows the real one with mean correlation {corr:.2f} (target >= "
        f"{t.mouth_corr:g}: {met(corr >= t.mouth_corr)}) and moves {amp:.2f} times as much (amplitude ratio, target >= "
        f"{t.mouth_amplitude_ratio:g}: {met(amp >= t.mouth_amplitude_ratio)})" + ("." if amp >= 0.5 else ": the mouth barely moves.")
    )
    eye = f.get("speech_clips_eye_corr")
    if eye is not None:
        lines.append(f"- The eyes: the decoded eye opening follows the real one with mean correlation {eye:.2f} "
                     f"(amplitude ratio {_num(f.get('speech_clips_eye_amplitude_ratio'))}).")  # fmt: skip
    lp, lp_silent = f.get("speech_clips_mouth_lpips"), f.get("speech_clips_mouth_lpips_without_speech")
    corr_silent = f.get("speech_clips_mouth_corr_without_speech")
    if lp is not None and lp_silent is not None and corr_silent is not None:
        worse = lp_silent / lp - 1.0
        helps = worse >= t.silence_mouth_lpips_worse and corr_silent < corr
        lines.append(
            f"- The speech: with silence instead of it, mouth LPIPS goes {lp:.4f} -> {lp_silent:.4f} ({100 * worse:+.1f}%, target "
            f">= +{100 * t.silence_mouth_lpips_worse:g}%: {met(worse >= t.silence_mouth_lpips_worse)}) and the mouth correlation "
            f"{corr:.2f} -> {corr_silent:.2f} ({'lower' if corr_silent < corr else 'NOT lower'}): "
            + ("the speech does measurable good to the mouth." if helps else "the speech does not yet do measurable good to the mouth.")
        )
    return lines


def reading(final: dict, early: dict) -> str:
    """The verdicts the table supports, and where the model still loses, from the numbers."""
    f, e = final["mean"], early["mean"]
    verdict = lambda ok: "beats" if ok else "does NOT beat"  # noqa: E731
    lines = [
        f'- Against "repeat the keyframe": the shipped model {verdict(f["lpips"] < f["repeat_keyframe_lpips"])} it on mean '
        f"LPIPS ({f['lpips']:.4f} vs {f['repeat_keyframe_lpips']:.4f}) and {verdict(f['psnr_db'] > f['repeat_keyframe_psnr_db'])} "
        f"it on mean PSNR ({f['psnr_db']:.2f} vs {f['repeat_keyframe_psnr_db']:.2f} dB).",
        f"- Against its own early checkpoint: {verdict(f['lpips'] < e['lpips'])} it on LPIPS ({f['lpips']:.4f} vs {e['lpips']:.4f}), "
        f"{verdict(f['psnr_db'] > e['psnr_db'])} it on PSNR ({f['psnr_db']:.2f} vs {e['psnr_db']:.2f} dB).",
    ]
    losing = sorted((m["psnr_db"] - m["repeat_keyframe_psnr_db"], name) for name, m in final["clips"].items() if m["psnr_db"] < m["repeat_keyframe_psnr_db"])
    if losing:
        worst = ", ".join(f"{name} ({d:+.1f} dB)" for d, name in losing[:3])
        stillest = sorted(final["clips"], key=lambda n: -final["clips"][n]["repeat_keyframe_psnr_db"])[: len(final["clips"]) // 2]
        still_losers = sum(name in stillest for _, name in losing)
        lines.append(
            f"- Where it loses: {len(losing)} of {len(final['clips'])} clips have a lower PSNR than the repeated keyframe; "
            f"{still_losers} of them are in the half of the clips that move least (highest repeat-keyframe PSNR), where the "
            f"keyframe is already close and any error in the predicted motion costs more than it gains; worst: {worst}."
        )
    if "speech_clips" in f:
        change = f["speech_clips_lpips_without_speech"] - f["speech_clips_lpips"]
        used = abs(change) >= 0.001
        lines.append(
            f"- The audio path: on the {f['speech_clips']} dev clips with speech, rendering with their speech and with silence "
            f"instead gives mean LPIPS {f['speech_clips_lpips']:.4f} and {f['speech_clips_lpips_without_speech']:.4f} "
            f"(PSNR {f['speech_clips_psnr_db']:.2f} and {f['speech_clips_psnr_db_without_speech']:.2f} dB): "
            + ("the speech changes the whole picture measurably." if used else
               "the speech does not change the whole picture measurably (the mouth alone: the next line).")
        )  # fmt: skip
    lines += face_reading(f)
    lines.append("- Trained for hours on two CPU cores, not days on GPUs: expect soft detail and approximate expressions.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
