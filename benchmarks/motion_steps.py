"""How coarse may the compact motion coder quantise? Measured, per value type (issue 6).

    python -m benchmarks.motion_steps [--data ~/.cache/avfr/prepared/dev] [--model FILE]
                                      [--max-frames 30] [--out benchmarks/results] [--force]

On the prepared dev clips (same-identity: keyframe = first face frame, every later frame
driving, its own audio; the protocol of ``codec/training/evaluate.py``), every setting codes
the sender's keypoints with :class:`CompactMotionEncoder` (so its bits are the real payload
sizes) and renders the receiver's frames from what the decoder gets. Reported per setting:
motion payload bits per frame, mean LPIPS (AlexNet) and PSNR against the real frames, and the
LPIPS change against raw FP16 (the paper's 960-bit mode).

Positions and Jacobians are swept one at a time with the other held fine (1/512 and 1/64),
then the chosen pair (for each type the coarsest step that costs at most a quarter of the
``--lpips-budget`` and 0.25 dB of PSNR on its own) is measured together. The JVET GFVC software's scheme (every
value: delta to the previous frame, step 1/64, signed Exp-Golomb) is counted on the same
keypoints without its CABAC stage as a reference; its step is also measured with our coder.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.provenance import write_results
from codec.bitstream.compact_motion import CompactMotionEncoder, CompactMotionParams
from codec.defaults import prepared_dir
from codec.evaluation import finite_psnr
from codec.losses.lpips import LPIPS
from codec.model import load_model
from codec.model_input import to_uint8_rgb
from codec.progress import progress_bar
from codec.training.evaluate import ClipFrames, dev_clips
from codec.zoo import default_model_path

FINE_POSITION, FINE_JACOBIAN = 512, 64
POSITION_SWEEP = (32, 64, 128, 256, 512)
JACOBIAN_SWEEP = (8, 16, 32, 64)


@dataclass
class Setting:
    name: str
    position_step_inv: int | None  # None: raw FP16
    jacobian_step_inv: int | None
    intra_period: int = 25


@dataclass
class Row:
    name: str
    position_step_inv: int | None
    jacobian_step_inv: int | None
    bits_per_frame: float
    lpips: float
    psnr_db: float
    delta_lpips: float = 0.0


def exp_golomb_bits(value: int) -> int:
    """Signed order-0 Exp-Golomb length (H.264 se(v) mapping)."""
    code = 2 * value - 1 if value > 0 else -2 * value
    return 2 * (code + 1).bit_length() - 1


def jvet_reference_bits(kps: np.ndarray, step_inv: int = 64) -> float:
    """Bits per frame of delta + uniform step + signed Exp-Golomb over all values (no CABAC)."""
    idx = np.rint(kps * step_inv).astype(np.int64)
    deltas = np.diff(idx, axis=0, prepend=idx[:1] * 0)
    return float(np.mean([sum(exp_golomb_bits(int(v)) for v in frame.ravel()) for frame in deltas]))


def coded_keypoints(kps: np.ndarray, setting: Setting) -> tuple[np.ndarray, float]:
    """What the receiver renders with, and the mean payload bits per frame."""
    if setting.position_step_inv is None:
        return kps.astype(np.float16).astype(np.float32), 960.0
    params = CompactMotionParams(setting.position_step_inv, setting.jacobian_step_inv, setting.intra_period)
    enc = CompactMotionEncoder(params, kps.shape[1])
    out, bits = [], 0
    for kp in kps:
        payload, _, received = enc.encode(kp)
        out.append(received)
        bits += 8 * len(payload)
    return np.stack(out), bits / len(kps)


class Renderer:
    """One model, each clip's source state and sender keypoints computed once."""

    def __init__(self, model_path: Path, clips: list[ClipFrames]) -> None:
        self.model = load_model(model_path).eval()
        self.lpips = LPIPS("alex").eval()
        self.clips = clips
        with torch.no_grad():
            self.states = [self.model.encode_source(c.inputs[:1]) for c in clips]
            self.keypoints = [self.model.keypoints(c.inputs).numpy() for c in clips]

    @torch.no_grad()
    def score(self, setting: Setting) -> Row:
        lp, ps, bits, frames = [], [], [], 0
        for clip, state, kps in zip(self.clips, self.states, self.keypoints):
            coded, b = coded_keypoints(kps, setting)
            pred = torch.cat([
                self.model.reconstruct(state, torch.from_numpy(coded[s : s + 16]), clip.mels[s : s + 16].float())
                for s in range(0, len(coded), 16)
            ])[1:]  # fmt: skip
            real = clip.inputs[1:, :3]
            lp.append(float(self.lpips(pred, real).sum()))
            ps.append(sum(finite_psnr(a, b) for a, b in zip(to_uint8_rgb(pred), to_uint8_rgb(real))))
            bits.append(b * len(kps))
            frames += len(real)
        total_kp_frames = sum(len(k) for k in self.keypoints)
        return Row(setting.name, setting.position_step_inv, setting.jacobian_step_inv, sum(bits) / total_kp_frames, sum(lp) / frames, sum(ps) / frames)


def choose(rows: list[Row], key: str, budget: float, raw: Row, max_psnr_loss_db: float = 0.25) -> int:
    """The coarsest step of one sweep whose LPIPS cost stays within ``budget`` and whose PSNR
    loss against raw stays within ``max_psnr_loss_db`` (LPIPS alone let a measured 1/32 + 1/8
    pair through at -1.2 dB, more than the model gains over repeating the keyframe)."""
    ok = [r for r in rows if r.delta_lpips <= budget and raw.psnr_db - r.psnr_db <= max_psnr_loss_db]
    best = min(ok or rows[-1:], key=lambda r: getattr(r, key))
    return int(getattr(best, key))


def run(model: Path, data: Path, max_frames: int, budget: float, progress: bool = True) -> dict:
    clips = dev_clips(data, load_model(model).config.image_size, max_frames)
    renderer = Renderer(model, clips)
    raw = renderer.score(Setting("raw-fp16", None, None))
    position = [Setting(f"position-1/{p}", p, FINE_JACOBIAN) for p in POSITION_SWEEP]
    jacobian = [Setting(f"jacobian-1/{j}", FINE_POSITION, j) for j in JACOBIAN_SWEEP]
    rows: dict[str, list[Row]] = {"position": [], "jacobian": []}
    for group, settings in (("position", position), ("jacobian", jacobian)):
        for s in progress_bar(settings, desc=f"motion steps ({group})", unit="setting", disable=not progress):
            row = renderer.score(s)
            row.delta_lpips = row.lpips - raw.lpips
            rows[group].append(row)
    p_inv = choose(rows["position"], "position_step_inv", budget / 4, raw)
    j_inv = choose(rows["jacobian"], "jacobian_step_inv", budget / 4, raw)
    finals = [Setting("chosen", p_inv, j_inv), Setting("jvet-step-1/64", 64, 64)]
    final_rows = []
    for s in finals:
        row = renderer.score(s)
        row.delta_lpips = row.lpips - raw.lpips
        final_rows.append(row)
    all_kps = [k.reshape(len(k), -1) for k in renderer.keypoints]
    jvet_bits = float(np.average([jvet_reference_bits(k) for k in all_kps], weights=[len(k) for k in all_kps]))
    return {
        "model": str(model),
        "data": str(data),
        "clips": len(clips),
        "frames": int(sum(len(c.inputs) for c in clips)),
        "lpips_budget": budget,
        "raw": asdict(raw),
        "sweeps": {g: [asdict(r) for r in rs] for g, rs in rows.items()},
        "chosen": asdict(final_rows[0]),
        "jvet_step": asdict(final_rows[1]),
        "jvet_reference_bits_per_frame": jvet_bits,
    }


def markdown(result: dict) -> str:
    raw = result["raw"]
    lines = [
        "# Compact motion: quantisation steps measured",
        "",
        f"{result['clips']} dev clips, {result['frames']} frames (keyframe = first frame, same identity), model `{Path(result['model']).name}`.",
        f"LPIPS budget {result['lpips_budget']} against raw FP16; each value type may spend a quarter of it and lose at most 0.25 dB of PSNR.",
        "",
        "| setting | position step | Jacobian step | motion bits/frame | LPIPS | dLPIPS vs raw | PSNR dB |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [raw] + result["sweeps"]["position"] + result["sweeps"]["jacobian"] + [result["chosen"], result["jvet_step"]]
    for r in rows:
        p = f"1/{r['position_step_inv']}" if r["position_step_inv"] else "fp16"
        j = f"1/{r['jacobian_step_inv']}" if r["jacobian_step_inv"] else "fp16"
        lines.append(f"| {r['name']} | {p} | {j} | {r['bits_per_frame']:.1f} | {r['lpips']:.4f} | {r['delta_lpips']:+.4f} | {r['psnr_db']:.2f} |")
    lines += [
        "",
        f"JVET GFVC-style reference (delta, step 1/64, signed Exp-Golomb, no CABAC) on the same keypoints: "
        f"{result['jvet_reference_bits_per_frame']:.1f} bits/frame; our coder at the same step: {result['jvet_step']['bits_per_frame']:.1f}.",
        f"Chosen: positions 1/{result['chosen']['position_step_inv']}, Jacobians 1/{result['chosen']['jacobian_step_inv']}: "
        f"{result['chosen']['bits_per_frame']:.1f} bits/frame ({960 / max(result['chosen']['bits_per_frame'], 1e-9):.1f}x fewer than raw), "
        f"dLPIPS {result['chosen']['delta_lpips']:+.4f}. Raw FP16 LPIPS {raw['lpips']:.4f}.",
        "",
        f"Machine: {result['machine']['cpu']} ({result['machine']['torch_threads']} torch threads), torch {result['machine']['torch']}; "
        f"commit {result['git']['commit'][:10]}{' (dirty tree)' if result['git']['dirty'] else ''}.",
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    from benchmarks.plots import plt, save_figure  # plots selects the headless backend first

    fig, ax = plt.subplots(figsize=(6, 4))
    for group, marker in (("position", "o"), ("jacobian", "s")):
        rs = result["sweeps"][group]
        ax.plot([r["bits_per_frame"] for r in rs], [r["delta_lpips"] for r in rs], marker=marker, label=f"{group} step sweep")
        for r in rs:
            ax.annotate(f"1/{r[f'{group}_step_inv']}", (r["bits_per_frame"], r["delta_lpips"]), fontsize=7)
    c = result["chosen"]
    ax.plot([c["bits_per_frame"]], [c["delta_lpips"]], "r*", markersize=12, label="chosen")
    ax.axhline(result["lpips_budget"], color="grey", linestyle="--", linewidth=0.8, label="budget")
    ax.set_title("Compact motion: rate against quality loss")
    save_figure(fig, ax, path, "motion payload, bits per frame", "LPIPS - LPIPS(raw FP16)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=prepared_dir("dev"))
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--max-frames", type=int, default=30, help="frames per clip (the first is the keyframe)")
    parser.add_argument("--lpips-budget", type=float, default=0.005)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default="motion_steps")
    parser.add_argument("--force", action="store_true", help="overwrite existing results")
    args = parser.parse_args(argv)
    out_json = args.out / f"{args.name}.json"
    if out_json.exists() and not args.force:
        print(f"motion_steps: {out_json} exists: pass --force to overwrite it", file=sys.stderr)
        return 2
    result = run(args.model or default_model_path(), args.data.expanduser(), args.max_frames, args.lpips_budget)
    print(write_results(args.out, args.name, result, markdown, plot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
