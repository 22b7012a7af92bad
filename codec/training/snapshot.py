"""The compact resumable snapshot of a training run, small enough to commit (<= 16 MiB).

A run outlives the machine it started on: sessions end, and the next may be another machine
with no run folder. The full checkpoint (``last.safetensors``: fp32 weights and Adam moments,
~4x the weights) stays in the git-ignored run folder; the snapshot keeps what a resume cannot
rebuild: every network's weights in fp16, the step, and the run's config. The data order needs
nothing more, since each step's batch is derived from (seed, step) alone
(``train.StepBatchSampler``). Adam's moments are not kept (they would triple the file): a run
resumed from a snapshot restarts them, which costs a few dozen steps of settling, not the run.

Warm start (``TrainConfig.init_from``) is the other way in: a model file of another
configuration seeds every tensor whose name and shape match (e.g. a 256-px model from the
128-px one: same core, new output stage), and the rest starts fresh.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from codec.errors import ModelError

FORMAT = "avfr-train-snapshot"


def save_snapshot(path: Path, modules: dict[str, torch.nn.Module], step: int, train_config: dict[str, Any]) -> None:
    """fp16 weights of ``modules`` + step + config, written atomically (temp file, rename)."""
    tensors = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            value = value.detach().cpu()
            tensors[f"{name}.{key}"] = (value.half() if value.is_floating_point() else value).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    meta = {"format": FORMAT, "step": str(step), "train_config": json.dumps(train_config)}
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def read_snapshot(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises several types for damaged files
        raise ModelError(f"training snapshot {path} is unreadable ({err.__class__.__name__}): restore it from git") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path} is not an avfr training snapshot: give the file `avfr train` wrote as `snapshot`")
    return tensors, meta


def load_snapshot(path: Path, modules: dict[str, torch.nn.Module], schedulers: dict[str, Any]) -> int:
    """Restore weights in place and move the schedulers to the snapshot's step; returns the step."""
    tensors, meta = read_snapshot(path)
    for name, module in modules.items():
        prefix = f"{name}."
        reference = module.state_dict()
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
        try:
            module.load_state_dict(state)
        except RuntimeError as err:
            raise ModelError(
                f"training snapshot {path} does not fit this configuration ({str(err).splitlines()[0]}): resume with the config it was written by"
            ) from None
    step = int(meta["step"])
    for sched in schedulers.values():
        fast_forward(sched, step)
    return step


def fast_forward(scheduler: Any, step: int) -> None:
    """Put a fresh step scheduler where it would be after ``step`` steps (its rate included)."""
    with warnings.catch_warnings():  # "step() before optimizer.step()": intended here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(step):
            scheduler.step()


def warm_start(model: torch.nn.Module, path: Path) -> tuple[int, int]:
    """Copy from the model file at ``path`` every tensor whose name and shape match; returns
    (copied, left fresh). Model files are safetensors, read without unpickling."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelError(f"init_from model {path} not found: give a model .safetensors file, or drop init_from")
    source = load_file(str(path))
    state = model.state_dict()
    matched = {k: v.to(state[k].dtype) for k, v in source.items() if k in state and state[k].shape == v.shape}
    model.load_state_dict(matched, strict=False)
    print(f"warm start from {path}: {len(matched)} of {len(state)} tensors copied, {len(state) - len(matched)} fresh")
    return len(matched), len(state) - len(matched)


__all__ = ["save_snapshot", "load_snapshot", "read_snapshot", "warm_start"]
