"""The committed snapshot resumes a run on another machine; warm start seeds a new configuration."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from codec.config import ModelConfig, load_config
from codec.errors import ModelError
from codec.model import AVFRModel, save_model
from codec.training.checkpoint import save_checkpoint
from codec.training.loss_config import LossConfig
from codec.training.snapshot import read_snapshot, save_snapshot, warm_start
from codec.training.train import DistInfo, TrainConfig, Trainer, load_train_config, train


def tiny(run_dir: Path, data: Path, snapshot: Path, **overrides):
    cfg = load_train_config("tiny")
    return replace(cfg, data=str(data), run_dir=str(run_dir), snapshot=str(snapshot), sample_every=10**6, **overrides)


@pytest.mark.data
def test_a_run_resumes_from_the_snapshot_alone(prepared: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "committed" / "snapshot.safetensors"
    train(tiny(tmp_path / "machine_a", prepared, snapshot, steps=2, snapshot_every=2, lr_milestones=(0.5, 0.9)), progress=False)
    tensors, meta = read_snapshot(snapshot)
    assert meta["step"] == "2"
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    assert any(k.startswith("discriminator.") for k in tensors) and any(k.startswith("model.") for k in tensors)
    # another machine: no run folder, only the snapshot
    cfg = tiny(tmp_path / "machine_b", prepared, snapshot, steps=4, lr_milestones=(0.5, 0.9))
    trainer = Trainer(cfg, torch.device("cpu"), DistInfo())
    assert trainer.resume()
    assert trainer.step == 2
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(cfg.lr_generator * cfg.lr_gamma)  # past the drop at step 2
    for name, value in trainer.model.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, tensors[f"model.{name}"].float()), name
    train(cfg, resume=True, progress=False)
    assert read_snapshot(snapshot)[1]["step"] == "4"


def test_a_foreign_file_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_model(AVFRModel(load_config("tiny")), path)
    with pytest.raises(ModelError, match="not an avfr training snapshot"):
        read_snapshot(path)


def test_warm_start_copies_the_matching_core(tmp_path: Path) -> None:
    small = AVFRModel(load_config("tiny"))
    torch.nn.init.normal_(small.generator.final.weight)
    path = tmp_path / "small.safetensors"
    save_model(small, path)
    big = AVFRModel(
        ModelConfig.from_dict({**load_config("tiny").to_dict(), "image_size": 128, "core_size": 64, "kp_scale_factor": 0.25, "dm_scale_factor": 0.25})
    )
    copied, fresh = warm_start(big, path)
    assert fresh > 0 and copied == len(small.state_dict())
    assert torch.allclose(big.generator.final.weight, small.generator.final.weight)


def old_layout_config(run_dir: Path, snapshot: Path) -> dict:
    """A tiny run's config as `avfr train` wrote it (snapshot metadata, checkpoint, run folder)
    while ModelConfig held the loss settings: they sat in model_overrides."""
    cfg = {k: v for k, v in asdict(load_train_config("tiny")).items() if k != "losses"}
    overrides = {"image_size": 128, "loss_gan": 0.5, "loss_landmark_flow": 10.0, "landmark_flow_tolerance_px": 2.0}
    return json.loads(json.dumps({**cfg, "run_dir": str(run_dir), "snapshot": str(snapshot), "model_overrides": overrides}))


def test_a_run_written_before_the_loss_settings_moved_still_resumes(tmp_path: Path) -> None:
    """Snapshot and full checkpoint written as before: same networks, step and loss weights."""
    snapshot, old_run = tmp_path / "snapshot.safetensors", tmp_path / "old_run"
    old = old_layout_config(old_run, snapshot)
    torch.manual_seed(1)
    writer = Trainer(TrainConfig.from_dict(old), torch.device("cpu"), DistInfo())
    writer.step = 3
    modules, opts, scheds = writer._state()
    save_snapshot(snapshot, modules, writer.step, old)
    save_checkpoint(old_run / "last.safetensors", modules, opts, scheds, writer.step, extra={"train_config": old})

    expected = LossConfig(loss_gan=0.5, loss_landmark_flow=10.0, landmark_flow_tolerance_px=2.0)
    tensors, meta = read_snapshot(snapshot)
    from_snapshot = Trainer(TrainConfig.from_dict({**json.loads(meta["train_config"]), "run_dir": str(tmp_path / "new")}), torch.device("cpu"), DistInfo())
    from_checkpoint = Trainer(TrainConfig.from_dict(old), torch.device("cpu"), DistInfo())
    for trainer in (from_snapshot, from_checkpoint):
        assert trainer.resume() and trainer.step == 3
        assert trainer.gen_full.weights == trainer.disc_full.weights == expected
        assert trainer.model_config.image_size == 128
    for name, value in from_snapshot.model.state_dict().items():
        assert torch.equal(value, tensors[f"model.{name}"].to(value.dtype)), name
    for name, value in writer.discriminator.state_dict().items():
        assert torch.equal(value, from_checkpoint.discriminator.state_dict()[name]), name
