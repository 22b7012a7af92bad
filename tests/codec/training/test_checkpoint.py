"""The full training checkpoint (last.safetensors): a resumed run continues exactly, the file
holds only a JSON header and raw tensors, and a damaged or foreign file fails with one error."""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from codec.config import load_config
from codec.errors import ModelError
from codec.model import AVFRModel, save_model
from codec.networks.discriminator import Discriminator
from codec.training.checkpoint import load_checkpoint, save_checkpoint

MILESTONE = 3  # the learning rate drops after the save at step 2: a resume must keep the drop


class Run:
    """What the trainer checkpoints, on the tiny config: model and discriminator, an Adam and a
    MultiStepLR for each."""

    def __init__(self, seed: int) -> None:
        torch.manual_seed(seed)
        cfg = load_config("tiny")
        self.modules: dict[str, torch.nn.Module] = {"model": AVFRModel(cfg), "discriminator": Discriminator(cfg)}
        self.optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.5, 0.999)) for name, m in self.modules.items()}
        self.schedulers: dict[str, Any] = {n: torch.optim.lr_scheduler.MultiStepLR(o, [MILESTONE], gamma=0.1) for n, o in self.optimizers.items()}

    def step(self) -> None:
        """A real Adam step on every parameter (a pull towards a fixed target, no data needed)."""
        for name, module in self.modules.items():
            opt = self.optimizers[name]
            opt.zero_grad(set_to_none=True)
            sum(((p - 0.01) ** 2).sum() for p in module.parameters()).backward()
            opt.step()
            self.schedulers[name].step()

    def save(self, path: Path, step: int, extra: dict[str, Any] | None = None) -> None:
        save_checkpoint(path, self.modules, self.optimizers, self.schedulers, step, extra=extra)

    def load(self, path: Path) -> dict[str, Any]:
        return load_checkpoint(path, self.modules, self.optimizers, self.schedulers)

    def weights(self) -> dict[str, torch.Tensor]:
        return {f"{n}.{k}": v.clone() for n, m in self.modules.items() for k, v in m.state_dict().items()}


def assert_equal_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_resumed_run_continues_exactly(tmp_path: Path) -> None:
    """Weights, Adam moments and the learning-rate schedule all come back: two steps after a
    resume (across the milestone) give bit for bit what the run would have given without one."""
    path = tmp_path / "run" / "last.safetensors"
    straight = Run(seed=0)
    straight.step(), straight.step()
    straight.save(path, step=2, extra={"train_config": {"name": "tiny", "steps": 4}})
    straight.step(), straight.step()

    resumed = Run(seed=1)  # other initial weights, empty optimiser state
    meta = resumed.load(path)
    assert meta["step"] == 2 and meta["extra"] == {"train_config": {"name": "tiny", "steps": 4}}
    assert resumed.schedulers["model"].last_epoch == 2
    resumed.step(), resumed.step()
    assert_equal_weights(straight.weights(), resumed.weights())
    for name in ("model", "discriminator"):
        assert resumed.optimizers[name].param_groups[0]["lr"] == pytest.approx(1e-4), "dropped at the milestone"
    assert not list(path.parent.glob("*.tmp")), "the temporary file was renamed into place"


def test_the_file_is_safetensors_with_nothing_to_unpickle(tmp_path: Path) -> None:
    """Header length, JSON header, raw tensor bytes: nothing else, so loading never runs pickled code."""
    path = tmp_path / "last.safetensors"
    run = Run(seed=0)
    run.step()
    run.save(path, step=1)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header.pop("__metadata__")["avfr_checkpoint"])
    assert meta["step"] == 1 and set(meta["optimizers"]) == set(meta["schedulers"]) == {"model", "discriminator"}
    ends = sorted(entry["data_offsets"][1] for entry in header.values())
    assert 8 + n + ends[-1] == len(data), "the tensors fill the rest of the file"
    assert {k.split(".")[0] for k in header} == {"module", "optim"}
    assert any(k.startswith("optim.model.state.") and k.endswith(".exp_avg_sq") for k in header), "Adam's moments are tensors"


def foreign_files(tmp_path: Path) -> dict[str, Path]:
    """A truncated checkpoint, an avfr model file (safetensors, but no training state), a
    safetensors file without metadata, and a torch.save pickle."""
    good = tmp_path / "good.safetensors"
    Run(seed=0).save(good, step=0)
    files = {name: tmp_path / f"{name}.safetensors" for name in ("truncated", "model", "bare", "pickle")}
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    save_model(AVFRModel(load_config("tiny")), files["model"])
    save_file({"x": torch.zeros(2)}, str(files["bare"]))
    torch.save({"step": 3}, files["pickle"])
    return files


def test_a_damaged_or_foreign_file_fails_with_one_error_and_changes_nothing(tmp_path: Path) -> None:
    run = Run(seed=0)
    before = run.weights()
    for name, path in foreign_files(tmp_path).items():
        with pytest.raises(ModelError) as caught:
            run.load(path)
        message = str(caught.value)
        assert f"checkpoint {path} is unreadable" in message and "resume from an earlier one" in message, name
        assert "\n" not in message, name
    assert_equal_weights(before, run.weights())


def test_a_missing_checkpoint_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found: check --run-dir, or start without --resume"):
        Run(seed=0).load(tmp_path / "nowhere" / "last.safetensors")


def test_a_checkpoint_of_another_configuration_is_refused_in_one_line_before_any_change(tmp_path: Path) -> None:
    """Resuming after the model config was edited: one ModelError naming the file, the modules untouched."""
    torch.manual_seed(0)
    small = AVFRModel(load_config("tiny"))
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, {"model": small}, {}, {}, step=1)
    other = AVFRModel(dataclasses.replace(load_config("tiny"), num_kp=12))
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ModelError) as err:
        load_checkpoint(path, {"model": other}, {}, {})
    assert str(path) in str(err.value) and "another model configuration" in str(err.value) and "\n" not in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())
