"""Training curves: every exported checkpoint evaluated once, cached, and plotted against step."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from codec.config import load_config
from codec.model import AVFRModel, save_model
from codec.training import curves


def _export(run_dir: Path, step: int, image_size: int = 64, seed: int = 0, metadata: bool = True) -> Path:
    torch.manual_seed(seed)
    model = AVFRModel(dataclasses.replace(load_config("tiny"), image_size=image_size))
    path = run_dir / f"model-step{step:07d}.safetensors"
    save_model(model, path, {"train_step": step} if metadata else None, dtype=torch.float16)
    return path


def test_checkpoints_are_ordered_by_their_step(tmp_path: Path) -> None:
    _export(tmp_path, 2000)
    _export(tmp_path, 300, metadata=False)  # the step comes from the file name then
    (tmp_path / "last.safetensors").write_bytes(b"")  # the trainer's resumable state: not a checkpoint to evaluate
    assert [curves.checkpoint_step(p) for p in curves.checkpoints(tmp_path)] == [300, 2000]


def test_a_cache_made_with_other_settings_is_not_reused(tmp_path: Path) -> None:
    path = tmp_path / curves.CACHE
    old = curves.CurveSettings("data", clips=6, frames=60)
    path.write_text(json.dumps({"settings": dataclasses.asdict(old), "checkpoints": {"model-step0000001.safetensors": {}}}))
    assert curves.load_cache(path, old)["checkpoints"]
    assert curves.load_cache(path, dataclasses.replace(old, frames=30))["checkpoints"] == {}


def test_only_new_or_changed_checkpoints_are_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evaluated = []

    def fake(path: Path, settings: curves.CurveSettings, names: dict) -> dict:
        evaluated.append(path.name)
        step = curves.checkpoint_step(path)
        return {"step": step, "sha256": curves.file_sha256(path), "image_size": 64, "clips": ["a"], "mean": {"speech_clips_mouth_corr": step / 1e4}}

    monkeypatch.setattr(curves, "evaluate_checkpoint", fake)
    settings = curves.CurveSettings("data", clips=1, frames=5)
    _export(tmp_path, 100)
    curves.update(tmp_path, settings)
    _export(tmp_path, 200)
    curves.update(tmp_path, settings)
    _export(tmp_path, 100, seed=1)  # re-exported with other weights
    cache = curves.update(tmp_path, settings)
    assert evaluated == ["model-step0000100.safetensors", "model-step0000200.safetensors", "model-step0000100.safetensors"]
    assert [r["step"] for r in curves.rows(cache)] == [100, 200]
    png = curves.plot(cache, tmp_path / "curves.png", "test run")
    assert png.stat().st_size > 1000 and "0.020" in curves.table(cache)
    both = curves.plot(cache, tmp_path / "ab.png", "test run", baseline=cache, baseline_label="other arm")
    assert both.stat().st_size > png.stat().st_size  # the baseline's line and legend entries are drawn too


@pytest.mark.data
def test_checkpoints_of_two_sizes_are_judged_on_the_same_clips(prepared: Path, tmp_path: Path) -> None:
    from codec.errors import InputError

    _export(tmp_path, 100, image_size=128)
    _export(tmp_path, 200, image_size=64)  # the fixture prepared 256 and 128 px crops, none at 64
    settings = curves.CurveSettings(str(prepared), clips=2, frames=4)
    try:
        curves.update(tmp_path, settings)
    except InputError as err:  # a dataset that cannot serve 64 px must say so in one line
        assert "64" in str(err)
    records = sorted(json.loads((tmp_path / curves.CACHE).read_text())["checkpoints"].values(), key=lambda r: r["step"])
    assert records[0]["image_size"] == 128 and all(r["clips"] == ["rizkiarm__LipNet__lbbc2a"] for r in records)  # its one clip with speech
    mean = records[0]["mean"]
    assert 0.0 < mean["speech_clips_mouth_lpips"] < 1.0 and 0.0 < mean["speech_clips_mouth_lpips_without_speech"] < 1.0
    assert 0.0 < mean["speech_clips_lpips"] < 1.0 and mean["speech_clips"] == 1
