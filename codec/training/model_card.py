"""Write the shipped model's card: data, steps, compute, dev metrics, loss curves, pictures.

Run as ``python -m codec.training.model_card RUN_DIR --model FINAL --early EARLY``. The loss
curves and numbers go into ``codec/weights/`` (committed); the sample grids show faces from
the research-only clips, which must never be committed, so they are written to ``out/``
(git-ignored) and the card says how to make them.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch

from codec.model import count_parameters, load_model, read_metadata
from codec.training.evaluate import ClipFrames, cross_identity_grid, dev_clips, evaluate_model, same_identity_grid

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


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
    ax.set_title("light-128 training losses (mean over each logging window)")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def still_inputs(stills: list[Path], size: int) -> list[torch.Tensor]:
    """Face crops of still photos through the same tracker and priors as the codec."""
    import numpy as np
    from PIL import Image

    from codec.model_input import ModelInputMaker, crop_size_for
    from sender.face_tracker import FaceCropper

    maker = ModelInputMaker(size, static_image_mode=True)
    out = []
    for path in stills:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        crop = FaceCropper(out_size=crop_size_for(size)).update(rgb)
        if crop.face_found:
            x5, found = maker.make(crop.crop)
            if found:
                out.append(x5)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--model", type=Path, required=True, help="the model to ship (fp16 safetensors)")
    parser.add_argument("--early", type=Path, required=True, help="the same run's checkpoint at 1/10 of the steps")
    parser.add_argument("--data", type=Path, default=Path("~/.cache/avfr/prepared/dev").expanduser())
    parser.add_argument("--stills", type=Path, default=None, help="folder of photos for the cross-identity grid")
    parser.add_argument("--max-frames", type=int, default=100)
    parser.add_argument("--pictures", type=Path, default=Path("out/model_card"))
    parser.add_argument("--compute", default="", help="free text: where and how long it trained")
    args = parser.parse_args(argv)

    WEIGHTS.mkdir(exist_ok=True)
    plot_losses(args.run_dir / "log.csv", WEIGHTS / "loss_curves.png")
    final = evaluate_model(args.model, args.data, args.max_frames)
    early = evaluate_model(args.early, args.data, args.max_frames)
    (WEIGHTS / "dev_metrics.json").write_text(json.dumps({"final": final, "early": early}, indent=2) + "\n")

    model = load_model(args.model)
    clips = dev_clips(args.data, model.config.image_size, args.max_frames)
    same_identity_grid(model, clips[:: max(1, len(clips) // 6)][:6], args.pictures / "same_identity.png")
    if args.stills is not None:
        stills = still_inputs(sorted(args.stills.glob("*"))[:5], model.config.image_size)
        driver: ClipFrames = max(clips, key=lambda c: len(c.inputs))
        cross_identity_grid(model, stills, driver, args.pictures / "cross_identity.png")
    print(card_text(args, final, early, model))
    (WEIGHTS / "MODEL_CARD.md").write_text(card_text(args, final, early, model))
    return 0


def card_text(args: argparse.Namespace, final: dict, early: dict, model) -> str:
    meta = read_metadata(args.model)
    meta_early = read_metadata(args.early)
    f, e = final["mean"], early["mean"]
    rows = [
        ("shipped model", meta.get("train_step", "?"), f["lpips"], f["psnr_db"]),
        ("same run, early checkpoint", meta_early.get("train_step", "?"), e["lpips"], e["psnr_db"]),
        ("repeat the keyframe (no motion)", "-", f["repeat_keyframe_lpips"], f["repeat_keyframe_psnr_db"]),
    ]
    table = "\n".join(f"| {n} | {s} | {lp:.4f} | {ps:.2f} |" for n, s, lp, ps in rows)
    frames = sum(c["frames"] for c in final["clips"].values())
    return f"""# Model card: avfr-light-128

The default model bundled with avfr (`codec/weights/avfr-light-128.safetensors`, fp16).

- **Network**: AVFR-GAN as in `docs/MODEL.md`, configuration `light-128` (128x128,
  10 keypoints with Jacobians), {count_parameters(model) / 1e6:.2f} M parameters (receiver side).
- **Data**: `avfr prepare` of `../shared/data/talking-heads/train/` (438 clips, ~199
  identities, 25 fps face crops, sampling balanced by identity). Research-only data: no frame of
  it is in this repository.
- **Training**: `avfr train light-128` (Adam 2e-4, betas 0.5/0.999, L1 + LPIPS-alex +
  equivariance, GAN from step 2000), {meta.get('train_step', '?')} steps of batch 4.
  Compute: {args.compute or 'see the closing notes'}.
- **Loss curves**: `loss_curves.png` beside this file.

## Same-identity reconstruction on dev/

Protocol (`codec/training/evaluate.py`): in each of the 21 dev clips (identities unseen in
training), keyframe = first face frame, driving = each later frame (at most {args.max_frames}),
the clip's own audio; {frames} driving frames in all. LPIPS is AlexNet LPIPS v0.1; PSNR on
RGB at 128x128. This measures the model alone (prepared crops, no keyframe coding).

| model | steps | mean LPIPS (lower is better) | mean PSNR dB |
|---|---|---|---|
{table}

Per-clip values: `dev_metrics.json`.

## Pictures

The grids show faces from research-only clips, so they are not committed; make them with
`python -m codec.training.model_card RUN_DIR --model ... --early ... --stills ../shared/data/talking-heads/stills`
(written to `{args.pictures}/same_identity.png`: keyframe, then real | generated pairs;
`{args.pictures}/cross_identity.png`: stills animated by a dev clip with relative motion).

## Limits

Trained for a short time on two CPU cores: motion transfer is coarse, and expressions
(blinks, mouth shapes) are largely not reproduced yet; see the issue tracker for the plan.
"""


if __name__ == "__main__":
    raise SystemExit(main())
