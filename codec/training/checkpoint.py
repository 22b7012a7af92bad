"""Training checkpoints as safetensors: networks, optimisers and schedulers in one file.

A checkpoint must never need unpickling, so optimiser state is flattened into named tensors
and the few non-tensor fields (param groups, scheduler counters, step) go into the file's
JSON metadata.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from codec.errors import ModelError


def _flatten_optimizer(prefix: str, state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, slots in state["state"].items():
        for key, value in slots.items():
            name = f"{prefix}.state.{pid}.{key}"
            if torch.is_tensor(value):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    items = list(tensors.items()) + list(meta["scalars"].items())
    for name, value in items:
        if not name.startswith(prefix + ".state."):
            continue
        pid, key = name[len(prefix) + 7 :].split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    path: Path,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    schedulers: dict[str, Any],
    step: int,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write atomically (temp file + rename) so a kill mid-write never loses the last good one."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"step": step, "optimizers": {}, "schedulers": {}, "extra": extra or {}}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value.detach().cpu().contiguous()
    for name, opt in optimizers.items():
        opt_tensors, opt_meta = _flatten_optimizer(f"optim.{name}", opt.state_dict())
        tensors.update(opt_tensors)
        meta["optimizers"][name] = opt_meta
    for name, sched in schedulers.items():
        meta["schedulers"][name] = sched.state_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"avfr_checkpoint": json.dumps(meta)})
    os.replace(tmp, path)


def _check_fits(path: Path, name: str, module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """torch's own refusal is a many-line RuntimeError after a partial load; say it in one line, before."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    differ = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    if differ or missing or extra:
        first = differ[0] if differ else (missing or extra)[0]
        raise ModelError(
            f"checkpoint {path} was made with another model configuration ({name}: {len(differ)} tensors of other shapes, "
            f"{len(missing)} missing, {len(extra)} unknown; first: {first}): resume with the run's own config, or start a new --run-dir"
        )


def load_checkpoint(
    path: Path,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    schedulers: dict[str, Any],
) -> dict[str, Any]:
    """Restore everything in place; returns the metadata (step, extra)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} not found: check --run-dir, or start without --resume")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["avfr_checkpoint"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises several types for damaged files
        raise ModelError(f"checkpoint {path} is unreadable ({err}): resume from an earlier one") from None
    states = {name: {k[len(f"module.{name}.") :]: v for k, v in tensors.items() if k.startswith(f"module.{name}.")} for name in modules}
    for name, module in modules.items():  # all checked before any is touched: a refused resume changes nothing
        _check_fits(path, name, module, states[name])
    for name, module in modules.items():
        module.load_state_dict(states[name])
    for name, opt in optimizers.items():
        opt.load_state_dict(_unflatten_optimizer(f"optim.{name}", tensors, meta["optimizers"][name]))
    for name, sched in schedulers.items():
        sched.load_state_dict(_scheduler_state_from_json(meta["schedulers"][name]))
    return meta


def _scheduler_state_from_json(state: dict[str, Any]) -> dict[str, Any]:
    """JSON turned MultiStepLR's Counter of step -> count into str keys: make them steps again,
    or the learning-rate drops silently never happen after a resume."""
    if isinstance(state.get("milestones"), dict):
        state = {**state, "milestones": Counter({int(k): v for k, v in state["milestones"].items()})}
    return state
