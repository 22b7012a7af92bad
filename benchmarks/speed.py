"""Milliseconds per stage and frames per second, sender and receiver, on CPU and CUDA (issue 8).

    python -m benchmarks.speed [--clip FILE] [--frames 100] [--devices cpu,cuda]
                               [--batches 1,8] [--threads 2] [--out benchmarks/results] [--force]

Sender (always CPU: it runs where the camera is): per frame, reading and resampling the
video, face tracking and cropping, MediaPipe priors (face mesh + drawn mesh and mask),
keypoint detector, motion coding and packetising, and the keyframe self-check averaged over
frames (one render every ``RefreshConfig.check_every``). End-to-end fps = frames / sum.

Receiver, per device: per keyframe the keyframe decode, its priors and the source encoders;
per frame the motion decoding, dense motion, warped motion features, audio and attention
encoders, generator, and conversion to uint8 RGB on the host (what a video writer or a
WebRTC track takes). ``--batches`` also times the per-frame networks for several concurrent
calls at once (one batch of N frames, each from its own keyframe), reported as aggregate fps.
CUDA times are taken with ``torch.cuda.synchronize()`` around each stage; on CUDA the model
also runs in fp16 (autocast) and the max abs difference of its output against the CPU fp32
output is reported.

Results: ``benchmarks/results/speed.json`` and ``speed.md`` (machine, versions, commit).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from benchmarks.provenance import git_state, machine, package_versions
from benchmarks.rd import DEFAULT_DATA

DEFAULT_CLIP = DEFAULT_DATA / "OpenTalker__SadTalker__WDA_KatieHill_000.mp4"


class StageTimer:
    """Accumulates wall time per named stage (synchronising CUDA so the time is the stage's)."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.ms: dict[str, list[float]] = {}
        self.cuda = device is not None and device.type == "cuda"

    def __call__(self, name: str, fn: Callable[[], object]) -> object:
        if self.cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        out = fn()
        if self.cuda:
            torch.cuda.synchronize()
        self.ms.setdefault(name, []).append(1000.0 * (time.perf_counter() - started))
        return out

    def summary(self, skip_first: int = 2) -> dict[str, float]:
        """Median ms per stage, warm-up calls dropped."""
        return {k: statistics.median(v[skip_first:] if len(v) > skip_first + 2 else v) for k, v in self.ms.items()}


@torch.no_grad()
def sender_stages(clip: Path, frames: int, model_path: Path | None) -> tuple[dict[str, float], list[np.ndarray], list[np.ndarray]]:
    """Per-stage ms of the sender, plus the crops and keypoints for the receiver's timing."""
    from codec.bitstream.motion import MotionStreamEncoder
    from codec.face_tracker import FaceCropper
    from codec.media import video_io
    from codec.model import silent_mel
    from codec.model_input import ModelInputMaker, crop_size_for
    from codec.zoo import load_for_encoding
    from proto import avfr_pb2
    from sender.refresh import RefreshConfig

    model = load_for_encoding(model_path).eval()
    size = model.config.image_size
    timer = StageTimer()
    inputs = ModelInputMaker(size, static_image_mode=False)
    motion = MotionStreamEncoder(avfr_pb2.MOTION_CODING_COMPACT, model.config.num_kp)
    crops, keypoints = [], []
    reader = video_io.iter_frames(clip, fps=25)
    state = None
    check_every = RefreshConfig().check_every
    mel = silent_mel()
    with FaceCropper(out_size=crop_size_for(size)) as cropper:
        for i in range(frames):
            frame = timer("read + resample", lambda: next(reader, None))
            if frame is None:
                break
            crop = timer("face tracking + crop", lambda: cropper.update(frame)).crop  # type: ignore[union-attr]
            x5, _ = timer("priors (face mesh, drawing)", lambda: inputs.make(crop))  # type: ignore[misc]
            kp = timer("keypoint detector", lambda: model.keypoints(x5[None]))  # type: ignore[union-attr]
            kp_np = kp[0].numpy()  # type: ignore[index]
            timer("motion coding + packet", lambda: avfr_pb2.Packet(motion=avfr_pb2.MotionFrame(
                frame_index=i, payload=motion.encode(kp_np)[0])).SerializeToString())  # fmt: skip
            if state is None:
                state = model.encode_source(x5[None])  # type: ignore[index]
            if i % check_every == 0:
                timer("self-check render (per check)", lambda: model.reconstruct(state, torch.from_numpy(motion.last_sent)[None], mel))
            crops.append(crop)
            keypoints.append(motion.last_sent.copy())
    inputs.close()
    ms = timer.summary()
    ms["self-check render (per frame, 1 in %d)" % check_every] = ms.pop("self-check render (per check)") / check_every
    return ms, crops, keypoints


@torch.no_grad()
def receiver_stages(crops: list[np.ndarray], keypoints: list[np.ndarray], model_path: Path | None, device: torch.device, half: bool) -> dict[str, float]:
    from codec.media.keyframe import KeyframeConfig, decode_keyframe, encode_keyframe
    from codec.model import silent_mel
    from codec.model_input import ModelInputMaker, resize_rgb, to_uint8_rgb
    from codec.zoo import load_for_encoding

    model = load_for_encoding(model_path).to(device).eval()
    size = model.config.image_size
    timer = StageTimer(device)
    cfg = KeyframeConfig.default()
    data = encode_keyframe(resize_rgb(crops[0], size), cfg)
    inputs = ModelInputMaker(size, static_image_mode=True)
    autocast = torch.autocast("cuda", dtype=torch.float16) if half else nullcontext()
    for _ in range(3):  # per keyframe (repeated to get a median)
        rgb = timer("keyframe decode", lambda: decode_keyframe(data, cfg.proto_codec))
        x5, _ = timer("keyframe priors", lambda: inputs.make(rgb))  # type: ignore[misc]
        x5 = x5[None].to(device)  # type: ignore[index]
        with autocast:
            state = timer("source encoders (per keyframe)", lambda: model.encode_source(x5))
    inputs.close()
    mel = silent_mel(device)
    for kp_np in keypoints:
        kp = timer("host -> device", lambda: torch.from_numpy(kp_np)[None].to(device, non_blocking=True))
        with autocast:
            frame = render_stages(model, state, kp, mel, timer)  # type: ignore[arg-type]
        timer("to uint8 RGB on host", lambda: to_uint8_rgb(frame))
    return timer.summary()


def render_stages(model, state, kp: torch.Tensor, mel: torch.Tensor, timer: StageTimer) -> torch.Tensor:  # noqa: ANN001
    """``AVFRModel.reconstruct_all`` split into its networks, each timed."""
    st = state.expand(kp.shape[0])
    motion = timer("dense motion", lambda: model.dense_motion(st.source_small, st.keypoints, kp))
    deformation, occlusion = motion["deformation"], motion["occlusion"]  # type: ignore[index]
    enc_motion = timer("warp motion features", lambda: model.generator.motion_features(st.encoded, deformation, occlusion))
    attention = timer("attention encoder", lambda: model.attention_encoder(mel.expand(kp.shape[0], -1, -1, -1), enc_motion))
    enc_aud = timer("audio encoder", lambda: model.audio_encoder(mel.expand(kp.shape[0], -1, -1, -1)))
    return timer("generator", lambda: model.generator(st.encoded, enc_motion, enc_aud, attention, deformation, occlusion, kp))  # type: ignore[return-value]


@torch.no_grad()
def batched_fps(model_path: Path | None, device: torch.device, batch: int, half: bool, repeats: int = 20) -> float:
    """Aggregate frames/s of the per-frame networks for ``batch`` concurrent calls."""
    from codec.model import dummy_inputs
    from codec.zoo import load_for_encoding

    model = load_for_encoding(model_path).to(device).eval()
    inputs = dummy_inputs(model.config, batch=batch)
    source, driving, mel = (inputs[k].to(device) for k in ("source", "driving", "mel"))
    autocast = torch.autocast("cuda", dtype=torch.float16) if half else nullcontext()
    with autocast:
        state = model.encode_source(source)
        kp = model.keypoints(driving)
        timer = StageTimer(device)
        for _ in range(repeats + 2):
            timer("frame", lambda: model.reconstruct(state, kp, mel))
    return batch * 1000.0 / timer.summary()["frame"]


@torch.no_grad()
def cpu_cuda_difference(model_path: Path | None, half: bool) -> float:
    from codec.model import dummy_inputs
    from codec.zoo import load_for_encoding

    model = load_for_encoding(model_path).eval()
    inputs = dummy_inputs(model.config, batch=2)
    source, driving, mel = inputs["source"], inputs["driving"], inputs["mel"]
    ref = model.reconstruct(model.encode_source(source), model.keypoints(driving), mel)
    model = model.cuda()
    with torch.autocast("cuda", dtype=torch.float16) if half else nullcontext():
        got = model.reconstruct(model.encode_source(source.cuda()), model.keypoints(driving.cuda()), mel.cuda())
    return float((got.float().cpu() - ref).abs().max())


def run(clip: Path, frames: int, devices: list[str], batches: list[int], threads: int, model: Path | None) -> dict:
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(clip, frames, devices, batches, threads, model)
    finally:
        torch.set_num_threads(previous_threads)


def _run(clip: Path, frames: int, devices: list[str], batches: list[int], threads: int, model: Path | None) -> dict:
    sender_ms, crops, keypoints = sender_stages(clip, frames, model)
    result: dict = {
        "clip": clip.name,
        "frames": len(crops),
        "threads": threads,
        "sender": {"device": "cpu", "ms": sender_ms, "fps": 1000.0 / sum(sender_ms.values())},
        "receiver": {},
    }
    for name in devices:
        if name == "cuda" and not torch.cuda.is_available():
            result["receiver"]["cuda"] = {"skipped": "no CUDA device here"}
            continue
        device = torch.device(name)
        variants = [("fp32", False)] + ([("fp16", True)] if device.type == "cuda" else [])
        for label, half in variants:
            ms = receiver_stages(crops, keypoints, model, device, half)
            per_frame = {k: v for k, v in ms.items() if not k.startswith(("keyframe", "source"))}
            entry = {"ms": ms, "fps": 1000.0 / sum(per_frame.values()), "batched_fps": {str(b): batched_fps(model, device, b, half) for b in batches}}
            if device.type == "cuda":
                entry["max_abs_diff_vs_cpu_fp32"] = cpu_cuda_difference(model, half)
            result["receiver"][f"{name}-{label}"] = entry
    return result


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Speed per stage",
        "",
        f"Clip `{r['clip']}`, {r['frames']} frames at 25 fps; model `{r.get('model', 'light')}`; {r['threads']} CPU threads; {m['cpu']}, torch {m['torch']}; "
        f"load average at start {m['load_average_start'][0]:.2f}; commit {r['git']['commit'][:10]}{' (dirty)' if r['git']['dirty'] else ''}.",
        "",
        "## Sender (CPU)",
        "",
        "| stage | ms per frame |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in r["sender"]["ms"].items()],
        f"| **end to end** | **{sum(r['sender']['ms'].values()):.1f} ms = {r['sender']['fps']:.1f} fps** |",
        "",
        "## Receiver",
        "",
    ]
    for name, e in r["receiver"].items():
        if "skipped" in e:
            lines += [f"- {name}: skipped ({e['skipped']})", ""]
            continue
        lines += [f"### {name}", "", "| stage | ms |", "|---|---|", *[f"| {k} | {v:.2f} |" for k, v in e["ms"].items()]]
        lines += [f"| **per frame, end to end** | **{1000.0 / e['fps']:.1f} ms = {e['fps']:.1f} fps** |", ""]
        lines += ["Networks only, N concurrent calls batched: " + ", ".join(f"N={b}: {v:.1f} fps aggregate" for b, v in e["batched_fps"].items())]
        if "max_abs_diff_vs_cpu_fp32" in e:
            lines.append(f"Max abs difference of the output against CPU fp32: {e['max_abs_diff_vs_cpu_fp32']:.2e} (pixel range 0-1).")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda is skipped (and said so) without a GPU")
    parser.add_argument("--batches", default="1,8", help="concurrent calls to time batched")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default="speed")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    out = args.out / f"{args.name}.json"
    if out.exists() and not args.force:
        print(f"speed: {out} exists: pass --force to overwrite it", file=sys.stderr)
        return 2
    if not args.clip.is_file():
        print(f"speed: {args.clip} not found: give a talking-head clip with --clip", file=sys.stderr)
        return 2
    from codec.zoo import default_model_path

    meta = {"machine": machine(), "versions": package_versions(), "git": git_state(), "model": (args.model or default_model_path()).name}
    r = run(args.clip, args.frames, args.devices.split(","), [int(b) for b in args.batches.split(",")], args.threads, args.model) | meta
    args.out.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2))
    (args.out / f"{args.name}.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
