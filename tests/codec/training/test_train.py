"""The trainer on a tiny configuration: exact resume, and DDP (gloo, 2 processes) = 1 process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from codec.model import load_model
from codec.training.train import StepBatchSampler, export_checkpoint, load_train_config, train

REPO = Path(__file__).resolve().parents[3]


def tiny(tmp: Path, data: Path, **overrides):
    cfg = load_train_config("tiny")
    return replace(cfg, data=str(data), run_dir=str(tmp), sample_every=10**6, **overrides)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(run_dir / "last.safetensors")).items() if k.startswith("module.")}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].numel())
    assert worst <= atol, f"largest difference {worst}"


def test_batches_depend_only_on_seed_and_step() -> None:
    w = [0.1, 0.2, 0.3, 0.4]
    whole = StepBatchSampler(w, 4, 0, 10, seed=3)
    resumed = StepBatchSampler(w, 4, 6, 10, seed=3)
    assert list(whole)[6:] == list(resumed)
    ranks = [StepBatchSampler(w, 4, 0, 10, seed=3, rank=r, world=2).batch_for_step(5) for r in (0, 1)]
    assert ranks[0] + ranks[1] == whole.batch_for_step(5)


@pytest.mark.data
def test_resume_follows_an_edited_learning_rate_schedule(prepared: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny(run, prepared, steps=4, checkpoint_every=2, max_seconds=0.0), progress=False)  # 1 step at 2e-4
    edited = tiny(run, prepared, steps=4, checkpoint_every=2, lr_generator=1e-4, lr_milestones=(0.5, 1.5), lr_gamma=0.5)
    train(edited, resume=True, progress=False)
    with safe_open(str(run / "last.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["avfr_checkpoint"])
    assert meta["step"] == 4
    lrs = [g["lr"] for g in meta["optimizers"]["generator"]["param_groups"]]
    assert lrs == [pytest.approx(5e-5)] * len(lrs), lrs  # 1e-4 halved at step 2, not the first run's 2e-4


@pytest.mark.data
def test_resume_continues_the_same_run(prepared: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    train(tiny(straight, prepared, steps=4, checkpoint_every=2), progress=False)
    split = tmp_path / "split"
    train(tiny(split, prepared, steps=4, checkpoint_every=2, max_seconds=0.0), progress=False)  # stops after 1 step
    assert load_file(str(split / "last.safetensors"))  # a checkpoint exists mid-run
    train(tiny(split, prepared, steps=4, checkpoint_every=2), resume=True, progress=False)
    assert_same(weights(straight), weights(split), atol=1e-6)
    # the run exports as a loadable model holding the checkpoint's weights (fp16)
    exported = load_model(export_checkpoint(split, tmp_path / "exported.safetensors"))
    ckpt = weights(split)
    for name, value in exported.state_dict().items():
        assert torch.allclose(value.float(), ckpt[f"module.model.{name}"].float(), atol=2e-3, rtol=1e-2), name
    # and it is not trivially equal: training moved the weights
    fresh = tmp_path / "fresh"
    train(tiny(fresh, prepared, steps=1, checkpoint_every=1), progress=False)
    with pytest.raises(AssertionError):
        assert_same(weights(straight), weights(fresh), atol=1e-6)


def weights_at_init(tmp: Path, data: Path) -> dict[str, torch.Tensor]:
    """The same model before any step (a 0-step run saves the initial weights)."""
    _run_ddp(tmp / "init", data, 1, steps=0)
    return weights(tmp / "init")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DDP_OVERRIDES = (
    # Per-rank randomness (equivariance transforms, GAN) and batch statistics would make the two
    # runs differ for reasons unrelated to DDP: switch them off so the test isolates gradient
    # averaging and data sharding.
    "--override",
    "loss_equivariance_value=0",
    "--override",
    "loss_equivariance_jacobian=0",
    "--override",
    "loss_gan=0",
    "--override",
    "norm=group",
)


def _run_ddp(run_dir: Path, data: Path, nproc: int, steps: int = 2) -> None:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc-per-node={nproc}",
        "--master-addr=127.0.0.1",
        f"--master-port={_free_port()}",
        "-m",
        "avfr",
        "train",
        "tiny",
        "--data",
        str(data),
        "--run-dir",
        str(run_dir),
        "--steps",
        str(steps),
        "--batch-size",
        "2",
        "--device",
        "cpu",
        *DDP_OVERRIDES,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.data
@pytest.mark.slow
def test_two_process_ddp_matches_one_process(prepared: Path, tmp_path: Path) -> None:
    _run_ddp(tmp_path / "one", prepared, 1)
    _run_ddp(tmp_path / "two", prepared, 2)
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    init = weights_at_init(tmp_path, prepared)
    # Adam normalises each gradient, so float noise on a near-zero gradient can move a weight by
    # up to lr either way: compare the runs' differences with how far training moved weights.
    diff = torch.cat([(one[k].float() - two[k].float()).abs().flatten() for k in one if one[k].is_floating_point()])
    moved = torch.cat([(one[k].float() - init[k].float()).abs().flatten() for k in one if one[k].is_floating_point()])
    assert float((diff > 1e-6).float().mean()) < 0.01, "more than 1% of the weights differ"
    assert float(diff.sum()) < 0.01 * float(moved.sum())


def test_bf16_autocast_is_used_on_the_cpu_only_where_it_has_bf16_instructions(tmp_path) -> None:
    from codec.training.train import cpu_has_native_bf16

    (tmp_path / "avx2").write_text("flags\t\t: fpu sse2 avx2 fma\n")
    (tmp_path / "zen4").write_text("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert not cpu_has_native_bf16(tmp_path / "avx2")
    assert cpu_has_native_bf16(tmp_path / "zen4")
    assert not cpu_has_native_bf16(tmp_path / "missing")
