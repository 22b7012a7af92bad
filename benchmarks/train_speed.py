"""Training step rate of candidate configurations, fp32 against bf16 autocast on the CPU.

What the run can afford decides the design: this times the trainer's own step
(``Trainer.train_step``: G losses, backward, Adam, then D when the GAN phase is on) on real
prepared batches, for each candidate, with the thread count the long run uses. Data loading
is left out (one worker prefetches while a step runs).

    python -m benchmarks.train_speed --data ~/.cache/avfr/prepared --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from benchmarks.provenance import write_results
from codec.defaults import prepared_dir
from codec.training.dataset import PreparedDataset
from codec.training.train import DistInfo, Trainer, load_train_config

RESULTS = Path(__file__).resolve().parent / "results"
# (label, train config, bf16 autocast, GAN phase on)
CANDIDATES = [
    ("light-128 fp32 (the old default)", "light-128", False, False),
    ("light-256 fp32", "light-256", False, False),
    ("light-256 bf16", "light-256", True, False),
    ("light-256 fp32 + GAN", "light-256", False, True),
    ("light-256 bf16 + GAN", "light-256", True, True),
]


def batches(data: Path, size: int, batch: int, count: int) -> list[dict[str, Any]]:
    ds = PreparedDataset(data, size=size, split="train", augment=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0))
    out = []
    for b in loader:
        out.append(b)
        if len(out) == count:
            return out
    return out


def time_candidate(train_name: str, bf16: bool, gan: bool, data: Path, steps: int, batch: int) -> dict[str, Any]:
    cfg = replace(load_train_config(train_name), cpu_bf16=bf16, gan_start_step=0 if gan else 10**9, batch_size=batch, init_from=None)
    torch.manual_seed(0)
    trainer = Trainer(cfg, torch.device("cpu"), DistInfo())
    trainer.use_amp = bf16  # measure what was asked, also where the trainer would decline bf16
    data_batches = batches(data, trainer.model_config.image_size, batch, steps + 2)
    times = []
    for i, b in enumerate(data_batches):
        start = time.perf_counter()
        trainer.train_step(b)
        if i >= 2:  # the first steps allocate and pick kernels
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    return {
        "step_s": step_s,
        "min_step_s": min(times),
        "max_step_s": max(times),
        "samples_per_s": batch / step_s,
        "image_size": trainer.model_config.image_size,
    }


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# Training step rate",
        "",
        f"{m['cpu']}, {result['threads']} torch thread(s), batch {result['batch']}, median of {result['steps']} steps "
        f"after 2 warm-up steps, real prepared batches (`python -m benchmarks.train_speed`). Load average at start "
        f"{m['load_average_start'][0]:.1f}: the machine was shared, so read the ratios more than the absolute times.",
        "",
        "| candidate | px | s/step (median) | min-max | samples/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, r in result["candidates"].items():
        lines.append(f"| {label} | {r['image_size']} | {r['step_s']:.2f} | {r['min_step_s']:.2f}-{r['max_step_s']:.2f} | {r['samples_per_s']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(result["candidates"])
    values = [result["candidates"][k]["step_s"] for k in labels]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh(labels, values, color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel(f"seconds per training step (batch {result['batch']}, {result['threads']} thread)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=prepared_dir())
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=None, help="labels to time (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"threads": args.threads, "steps": args.steps, "batch": args.batch, "candidates": {}}
    for label, name, bf16, gan in CANDIDATES:
        if args.only and label not in args.only:
            continue
        result["candidates"][label] = time_candidate(name, bf16, gan, args.data, args.steps, args.batch)
        print(f"{label}: {result['candidates'][label]['step_s']:.2f} s/step", flush=True)
    print(write_results(args.out, "train_speed", result, markdown, plot, image_alt="seconds per training step"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
