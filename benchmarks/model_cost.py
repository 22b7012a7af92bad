"""Parameters, FLOPs and CPU time per network, per model configuration.

Run: ``nice python -m benchmarks.model_cost`` (add ``--quick`` for fewer repeats). Writes
``benchmarks/results/model_cost.json`` and ``.md``; docs/MODEL.md quotes the table.

Times are inference, batch 1, ``torch.set_num_threads(threads)``, eval mode, no_grad,
median of ``repeats`` after a warm-up. For light-256 (the default's networks) it also times a whole training step
(G forward + backward with L1 + LPIPS + equivariance + GAN, Adam step, then the D step) at
batch 4, which is what decides whether the model trains on our 2-core CPU machines. The
load average is recorded before and after: these machines are shared, so a high load means
the times are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

from benchmarks.provenance import machine
from codec.config import ModelConfig, load_config
from codec.model import AVFRModel, count_flops, count_parameters, dummy_inputs, network_calls, network_modules, read_metadata
from codec.networks.discriminator import Discriminator
from codec.zoo import WEIGHTS_DIR

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = ("paper-256", "light-256", "light-256-speech", "light-128")
TRAIN_CONFIG = "light-256"
TRAIN_BATCH = 4


def machine_info(threads: int) -> dict[str, Any]:
    return {**machine(), "torch_threads": threads}


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(times)


def config_for(name: str) -> ModelConfig:
    """A bundled model's own config (light-256-speech is light-256 with its training config's
    overrides, so no preset file carries it), else the named preset."""
    bundled = WEIGHTS_DIR / f"avfr-{name}.safetensors"
    if bundled.is_file():
        return ModelConfig.from_json(read_metadata(bundled)["config"])
    return load_config(name)


def cost_of_config(name: str, repeats: int) -> dict[str, Any]:
    cfg = config_for(name)
    torch.manual_seed(0)
    model = AVFRModel(cfg).eval()
    calls = network_calls(model, dummy_inputs(cfg, batch=1))
    modules = network_modules(model)
    rows = {}
    for net, fn in calls.items():
        params = sum(count_parameters(m) for m in modules[net]) if net in modules else None
        rows[net] = {"params": params, "gflops": count_flops(fn) / 1e9, "ms": median_ms(fn, repeats)}
    rows["keyframe"]["params"] = count_parameters(model.kp_detector) + rows["source_encoders"]["params"]
    rows["receiver_per_frame"]["params"] = count_parameters(model) - rows["keyframe"]["params"]
    disc = Discriminator(cfg).eval()
    image = torch.rand(1, 3, cfg.image_size, cfg.image_size)
    rows["discriminator (training only)"] = {
        "params": count_parameters(disc),
        "gflops": count_flops(lambda: disc(image)) / 1e9,
        "ms": median_ms(lambda: disc(image), repeats),
    }
    return {"config": cfg.to_dict(), "total_params": count_parameters(model), "networks": rows}


def training_throughput(name: str, batch: int, steps: int) -> dict[str, Any]:
    """Samples/s of full G+D steps (the trainer's step, minus data loading)."""
    from codec.training.full_model import DiscriminatorFullModel, GeneratorFullModel
    from codec.training.loss_config import LossConfig

    cfg = load_config(name)
    torch.manual_seed(0)
    model, disc = AVFRModel(cfg), Discriminator(cfg)
    losses_cfg = LossConfig()
    gen_full, disc_full = GeneratorFullModel(model, disc, losses_cfg), DiscriminatorFullModel(disc, losses_cfg)
    opt_g = torch.optim.Adam(model.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
    data = dummy_inputs(cfg, batch=batch)
    times = []
    for step in range(steps + 2):
        t = time.perf_counter()
        losses, generated = gen_full(data)
        opt_g.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt_g.step()
        d = disc_full(data, generated)
        opt_d.zero_grad(set_to_none=True)
        sum(d.values()).backward()
        opt_d.step()
        if step >= 2:  # first steps allocate and pick kernels
            times.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    return {
        "config": name,
        "batch": batch,
        "steps_timed": steps,
        "step_s": step_s,
        "samples_per_s": batch / step_s,
        "losses": sorted(losses) + sorted(d),
        "lpips_backbone": losses_cfg.lpips_backbone,
    }


def fmt_params(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Model cost",
        "",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs (shared), torch {m['torch']}, "
        f"{m['torch_threads']} torch threads; load average {m['load_average_start'][0]:.1f} at start, "
        f"{m['load_average_end'][0]:.1f} at end. Inference, batch 1, fp32, median of {results['repeats']} runs. "
        "FLOPs = 2 x multiply-adds counted by torch.utils.flop_counter (conv / linear / matmul; "
        "grid_sample, interpolation and norms are not counted).",
        "",
        "| config | network | params | GFLOPs | CPU ms |",
        "|---|---|---:|---:|---:|",
    ]
    for name, res in results["configs"].items():
        for net, row in res["networks"].items():
            lines.append(f"| {name} | {net} | {fmt_params(row['params'])} | {row['gflops']:.2f} | {row['ms']:.1f} |")
        lines.append(f"| {name} | **model total (no D)** | {fmt_params(res['total_params'])} | | |")
    t = results.get("training")
    if t:
        lines += [
            "",
            f"Training step ({t['config']}, batch {t['batch']}, G+D, losses {', '.join(t['losses'])}, "
            f"LPIPS-{t['lpips_backbone']}): **{t['step_s']:.2f} s/step = {t['samples_per_s']:.2f} samples/s** "
            f"(median of {t['steps_timed']} steps).",
        ]
    lines += [
        "",
        "Rows: `keyframe` = the receiver's once-per-keyframe `encode_source` (source keypoints + both "
        "source encoders); `receiver_per_frame` = `reconstruct` (dense motion, audio and attention "
        "encoders, decoder); the sender pays `kp_detector` per frame.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"machine": machine_info(args.threads), "repeats": args.repeats, "configs": {}}
    for name in args.configs:
        results["configs"][name] = cost_of_config(name, args.repeats)
        print(f"{name}: done", flush=True)
    if not args.no_train:
        results["training"] = training_throughput(TRAIN_CONFIG, TRAIN_BATCH, args.train_steps)
    results["machine"]["load_average_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model_cost.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    (args.out / "model_cost.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
