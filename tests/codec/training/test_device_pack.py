"""The device pack: a budget-bound, identity-spread copy of a prepared set that opens as one,
with the LPIPS weights and receiver inputs a lent GPU machine cannot make (tiny model, fake set)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from codec.config import load_config
from codec.errors import InputError
from codec.losses.weights import WEIGHT_FILES
from codec.model import AVFRModel, save_model
from codec.training import dataset
from codec.training.dataset import PreparedDataset
from codec.training.device_pack import MIB, RECEIVER_INPUTS, PackConfig, build_pack, choose_clips
from tests.codec.training.fake_prepared import write_prepared

TRAIN = [("a1", "ann"), ("a2", "ann"), ("a3", "ann"), ("b1", "bob"), ("b2", "bob"), ("c1", "cy")]


@pytest.fixture
def fake_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-in LPIPS files in a private cache: the pack copies them, whatever is in them."""
    converted = tmp_path / "cache" / "converted"
    converted.mkdir(parents=True)
    for name in ("alexnet", "lpips_alex"):
        save_file({"w": torch.zeros(4)}, str(converted / f"{name}-{WEIGHT_FILES[name].sha256}.safetensors"))
    monkeypatch.setenv("AVFR_CACHE", str(tmp_path / "cache"))
    return converted


def tiny_model(path: Path) -> Path:
    torch.manual_seed(0)
    save_model(AVFRModel(load_config("tiny")), path)
    return path


def fake_sets(tmp_path: Path) -> tuple[Path, Path, Path]:
    prepared = write_prepared(tmp_path / "prepared", TRAIN)
    dev = write_prepared(tmp_path / "dev", [("d1", "dee"), ("d2", "eve")], split="eval", frames=12)
    return prepared, dev, tiny_model(tmp_path / "tiny.safetensors")


def test_clips_go_round_robin_over_identities_while_they_fit() -> None:
    entries = [{"id": cid, "identity": who} for cid, who in TRAIN]
    sizes = {cid: 10 for cid, _ in TRAIN}
    three = choose_clips(entries, sizes, budget=30)
    assert sorted(e["identity"] for e in three) == ["ann", "bob", "cy"], "one of each before a second of any"
    assert choose_clips(entries, sizes, budget=30) == three, "deterministic"
    assert len(choose_clips(entries, sizes, budget=1000)) == 6
    sizes["c1"] = 31  # larger than the budget: skipped, and the others still fill it
    assert [e["id"] for e in choose_clips(entries, sizes, budget=30)].count("c1") == 0
    assert len(choose_clips(entries, sizes, budget=30)) == 3


def test_a_pack_keeps_its_bound_and_opens_as_a_training_set(tmp_path: Path, fake_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prepared, dev, model = fake_sets(tmp_path)
    cfg = PackConfig(max_mib=100, receiver_clips=2, receiver_frames=4, model=model)
    whole = build_pack(prepared, tmp_path / "whole", dev, cfg)
    assert whole.clips == 6 and whole.identities == 3 and whole.frames == 180
    fixed = whole.total_mib - whole.clip_mib
    cfg.max_mib = fixed + 0.6 * whole.clip_mib + 64 / 1024  # room for about half the clips
    report = build_pack(prepared, tmp_path / "pack", dev, cfg)
    pack = tmp_path / "pack"
    size = sum(p.stat().st_size for p in pack.rglob("*") if p.is_file()) / MIB
    assert size <= cfg.max_mib and report.total_mib == pytest.approx(size)
    assert 3 <= report.clips < 6 and report.identities == 3
    index = json.loads((pack / "index.json").read_text())
    assert sorted(p.name for p in (pack / "clips").iterdir()) == sorted(e["id"] for e in index["clips"])
    assert sorted(p.name for p in (pack / "cache" / "converted").iterdir()) == sorted(p.name for p in fake_cache.iterdir())
    monkeypatch.setattr(dataset, "av", None)  # as on the GPU machine
    ds = PreparedDataset(pack, size=64, split="train")
    assert len(ds) == report.clips and ds[(0, 1)]["source"].shape == (5, 64, 64)
    with safe_open(str(pack / RECEIVER_INPUTS), framework="pt") as f:
        assert json.loads(f.metadata()["clips"]) == ["d1", "d2"]
        source, kp, mel = f.get_tensor("source"), f.get_tensor("keypoints"), f.get_tensor("mel")
        assert source.dtype == torch.uint8 and source.shape == (2, 5, 64, 64)
        assert kp.shape == (2, 4, 10, 6) and mel.shape == (2, 4, 1, 80, 20)
        assert f.get_tensor("reference_output").shape == (2, 3, 64, 64)
    assert np.isfinite(kp.numpy()).all()


def test_a_pack_refuses_a_full_folder_and_a_budget_with_no_room(tmp_path: Path, fake_cache: Path) -> None:
    prepared, dev, model = fake_sets(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(InputError, match="is not empty"):
        build_pack(prepared, tmp_path / "full", dev, PackConfig(receiver_clips=2, receiver_frames=4, model=model))
    with pytest.raises(InputError, match="leaves no room for clips"):
        build_pack(prepared, tmp_path / "small", dev, PackConfig(max_mib=0.01, receiver_clips=2, receiver_frames=4, model=model))
