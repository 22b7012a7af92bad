"""The receiver's networks on a GPU: frames per second at batch 1 and 8, fp32 and autocast.

    python -m benchmarks.cuda_receiver [--inputs device_pack/receiver_inputs.safetensors]
                                       [--device cuda] [--batches 1,8] [--out DIR]

A lent GPU machine has no MediaPipe, so this times the networks alone, on inputs precomputed
by ``codec.training.device_pack``: real dev keyframes (5 channels) and the keypoints and mel
windows of their following frames. Per batch size N (N concurrent calls, each from its own
keyframe): ``encode_source`` once per keyframe, then ``reconstruct`` per frame, each call
timed between ``torch.cuda.synchronize()`` calls, the first passes dropped as warm-up; fps is
N frames over the median call. Variants: fp32, then bf16 and fp16 autocast where they run;
each reports its output's max abs difference from the CPU fp32 output stored in the inputs.
What ``benchmarks.speed`` leaves out (keyframe decode, priors, the host copy) is not here.

Writes ``cuda_receiver.json`` and ``cuda_receiver.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from safetensors import safe_open

from benchmarks.provenance import machine
from codec.errors import AvfrError, InputError
from codec.zoo import WEIGHTS_DIR, load_for_encoding

DEFAULT_INPUTS = Path("device_pack") / "receiver_inputs.safetensors"
VARIANTS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def read_inputs(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path} not found: build it with `python -m codec.training.device_pack data/prepared`")
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_variant(model: torch.nn.Module, inputs: dict[str, torch.Tensor], device: torch.device, batch: int, dtype: torch.dtype | None, repeats: int) -> dict:
    """Median ms of encode_source (per keyframe batch) and reconstruct (per frame batch)."""
    source = (inputs["source"][:batch].to(device).float() / 255).contiguous(memory_format=torch.channels_last)
    kp, mel = inputs["keypoints"][:batch].to(device), inputs["mel"][:batch].to(device).float()
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    encode_ms, frame_ms = [], []
    with autocast:
        for _ in range(3):
            synchronize(device)
            started = time.perf_counter()
            state = model.encode_source(source)
            synchronize(device)
            encode_ms.append(1000 * (time.perf_counter() - started))
        for r in range(repeats):
            for t in range(kp.shape[1]):
                synchronize(device)
                started = time.perf_counter()
                model.reconstruct(state, kp[:, t], mel[:, t])
                synchronize(device)
                if r or t >= 3:  # warm-up: the first frames of the first pass
                    frame_ms.append(1000 * (time.perf_counter() - started))
    ms = statistics.median(frame_ms)
    return {
        "batch": batch,
        "encode_source_ms": statistics.median(encode_ms[1:]),
        "reconstruct_ms": ms,
        "reconstruct_p90_ms": statistics.quantiles(frame_ms, n=10)[-1] if len(frame_ms) > 1 else ms,
        "fps": batch * 1000.0 / ms,
        "frames_timed": len(frame_ms),
    }


@torch.no_grad()
def difference(model: torch.nn.Module, inputs: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype | None) -> tuple[float, float]:
    """Max and mean abs difference of the output from the CPU fp32 one the inputs hold (pixels in [0, 1])."""
    reference = inputs["reference_output"].float()
    n = len(reference)
    source = (inputs["source"][:n].to(device).float() / 255).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext():
        out = model.reconstruct(model.encode_source(source), inputs["keypoints"][:n, 0].to(device), inputs["mel"][:n, 0].to(device).float())
    error = (out.float().cpu() - reference).abs()
    return float(error.max()), float(error.mean())


def run(inputs_path: Path, device_name: str, batches: list[int], repeats: int, model_path: Path | None) -> dict:
    inputs, meta = read_inputs(inputs_path)
    model_path = model_path or WEIGHTS_DIR / meta.get("model", "")
    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AvfrError("--device cuda was asked for but no CUDA device is available: use --device cpu for a smoke run")
    model = load_for_encoding(model_path).to(device).eval()
    if meta.get("model_sha256") and model.weights_sha256 != meta["model_sha256"]:
        raise InputError(f"{inputs_path} holds the keypoints of another model than {model_path}: rebuild the pack, or pass --model")
    if max(batches) > inputs["source"].shape[0]:
        raise InputError(f"{inputs_path} holds {inputs['source'].shape[0]} keyframes, fewer than batch {max(batches)}: rebuild the pack with more")
    result: dict = {"model": model_path.name, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "variants": {}}
    for name, dtype in VARIANTS.items():
        if device.type == "cpu" and dtype is torch.float16:
            continue
        try:
            rows = [time_variant(model, inputs, device, b, dtype, repeats) for b in batches]
            worst, mean = difference(model, inputs, device, dtype)
            result["variants"][name] = {"max_abs_diff_vs_cpu_fp32": worst, "mean_abs_diff_vs_cpu_fp32": mean, "batches": rows}
        except RuntimeError as err:  # an autocast type a device or op does not take
            result["variants"][name] = {"failed": str(err).splitlines()[0]}
    return result | {"machine": machine(), "clips": json.loads(meta.get("clips", "[]")), "repeats": repeats}


def markdown(r: dict) -> str:
    lines = [
        "# Receiver networks on " + r["device"],
        "",
        f"Model `{r['model']}`; {len(r['clips'])} dev keyframes, each driving its own call; torch {r['machine']['torch']}. "
        "`encode_source` once per keyframe, `reconstruct` per frame (median, CUDA synchronised; networks only).",
        "",
        "| variant | batch | encode_source ms | reconstruct ms (p90) | fps (aggregate) | abs diff vs CPU fp32: max, mean |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, v in r["variants"].items():
        if "failed" in v:
            lines.append(f"| {name} | - | - | failed: {v['failed']} | - | - |")
            continue
        for e in v["batches"]:
            lines.append(
                f"| {name} | {e['batch']} | {e['encode_source_ms']:.2f} | {e['reconstruct_ms']:.2f} ({e['reconstruct_p90_ms']:.2f}) | "
                f"{e['fps']:.1f} | {v['max_abs_diff_vs_cpu_fp32']:.1e}, {v['mean_abs_diff_vs_cpu_fp32']:.1e} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=Path, default=DEFAULT_INPUTS)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=4, help="passes over the inputs' frames")
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled model the inputs name")
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    try:
        r = run(args.inputs, args.device, [int(b) for b in args.batches.split(",")], args.repeats, args.model)
    except AvfrError as err:
        print(f"cuda_receiver: {err}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cuda_receiver.json").write_text(json.dumps(r, indent=2))
    (args.out / "cuda_receiver.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
