"""Preparation on two short real clips, then the dataset built on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codec.training.dataset import PreparedDataset, identity_balanced_sampler
from codec.training.prepare import decode_landmarks, encode_landmarks, read_manifest

CLIPS = ["ali-vilab__dreamtalk__W011_front_angry_level3_001.mp4", "rizkiarm__LipNet__lbbc2a.mpg"]  # as in conftest.py


@pytest.mark.data
def test_prepare_writes_index_crops_and_features(prepared: Path) -> None:
    index = json.loads((prepared / "index.json").read_text())
    assert index["sizes"] == [256, 128]
    by_file = {c["file"]: c for c in index["clips"]}
    grid = by_file["rizkiarm__LipNet__lbbc2a.mpg"]
    assert grid["identity"] == "grid_E" and grid["split"] == "eval" and grid["has_audio"]
    assert by_file[CLIPS[0]]["identity"] == "mead_W011" and not by_file[CLIPS[0]]["has_audio"]
    with np.load(prepared / "clips" / grid["id"] / "meta.npz") as z:
        assert z["found"].shape == (grid["n_frames"],) and z["found"].mean() > 0.9
        assert z["mel"].dtype == np.float16 and z["mel"].shape[0] == 80
        assert z["mel"].shape[1] == pytest.approx(grid["n_frames"] * 4, abs=1)
    assert (prepared / "clips" / grid["id"] / "shot00_128.mp4").stat().st_size > 0


@pytest.mark.data
def test_dataset_items_are_shaped_for_the_trainer(prepared: Path) -> None:
    torch.manual_seed(0)
    ds = PreparedDataset(prepared, size=128, split="eval", augment=True)
    assert len(ds) == 2 and sorted(ds.identities) == ["grid_E", "mead_W011"]
    assert np.allclose(ds.sample_weights(), [0.5, 0.5])
    for i in range(len(ds)):
        item = ds[i]
        assert item["source"].shape == item["driving"].shape == (5, 128, 128)
        assert item["mel"].shape == (1, 80, 20)
        assert isinstance(item["identity"], str)
        for key in ("source", "driving"):
            x = item[key]
            assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
            assert float(x[4].mean()) > 0.05, "the face mask is drawn"
        for key in ("source", "driving"):
            lm = item[f"{key}_landmarks"]
            assert lm.shape == (468, 2) and lm.dtype == torch.float32
            # the landmarks travel with the frame: the drawn mesh lies on them
            px = (lm * 128).long().clamp(0, 127)
            assert float(item[key][3][px[:, 1], px[:, 0]].mean()) > 0.5
    loader = torch.utils.data.DataLoader(ds, batch_size=2, sampler=identity_balanced_sampler(ds, 2))
    batch = next(iter(loader))
    assert batch["source"].shape == (2, 5, 128, 128) and len(batch["identity"]) == 2


def test_landmark_coding_round_trips() -> None:
    lm = np.random.default_rng(0).uniform(-0.1, 1.1, (7, 468, 2)).astype(np.float32)
    assert np.abs(decode_landmarks(encode_landmarks(lm)) - lm).max() < 1 / 2048


def test_manifest_notes_give_identity_and_split(tmp_path: Path) -> None:
    manifest = tmp_path / "MANIFEST.tsv"
    manifest.write_text("file\tduration_s\tnotes\ntrain/a.mp4\t3.5\tid=vox_1; split=train; someone\n")
    entry = read_manifest(manifest)["a.mp4"]
    assert (entry.identity, entry.split, entry.duration_s) == ("vox_1", "train", 3.5)
