"""The prepared set as training pairs: sizes, the mirrored augmentation, identity balance and
seeded items, on the two real dev clips of conftest.py (test_prepare.py checks the 128 px items)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from codec.errors import InputError
from codec.training import dataset
from codec.training.dataset import PreparedDataset, identity_balanced_sampler, read_shot_frames
from tests.codec.training.fake_prepared import write_shot

KEYS = {"source", "driving", "mel", "source_landmarks", "driving_landmarks", "identity"}
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263  # MediaPipe face mesh: the person's right eye is on the image's left


def same_item(a: dict, b: dict) -> bool:
    return a["identity"] == b["identity"] and all(torch.equal(a[k], b[k]) for k in KEYS - {"identity"})


@pytest.mark.data
@pytest.mark.parametrize(("size", "stored"), [(256, 256), (96, 128)])
def test_an_item_has_the_requested_size(prepared: Path, size: int, stored: int) -> None:
    """A stored size is read as is; a smaller one is resized from the next stored size above it."""
    ds = PreparedDataset(prepared, size=size, split="eval", augment=False)
    assert (ds.size, ds.stored_size) == (size, stored)
    assert ds.shot_path(ds.shots[0]).name.endswith(f"_{stored}.mp4")
    item = ds[(0, 0)]
    assert set(item) == KEYS
    assert item["source"].shape == item["driving"].shape == (5, size, size)
    assert item["source"].dtype == torch.float32 and item["mel"].shape == (1, 80, 20)
    # the mesh is drawn where the landmarks are, at this size
    px = (item["source_landmarks"] * size).long().clamp(0, size - 1)
    assert float(item["source"][3][px[:, 1], px[:, 0]].mean()) > 0.5


@pytest.mark.data
def test_a_size_larger_than_prepared_is_refused(prepared: Path) -> None:
    """Upscaling would train on blurred faces without saying so: ask for a new prepare instead."""
    with pytest.raises(InputError, match=r"prepared at sizes \[256, 128\], none as large as 512: prepare with --sizes 512"):
        PreparedDataset(prepared, size=512, split="eval")


def test_a_folder_without_prepared_data_says_how_to_prepare(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no prepared data in .*run `avfr prepare"):
        PreparedDataset(tmp_path, size=128, split="train")


@pytest.mark.data
def test_a_seeded_item_is_the_same_in_any_process(prepared: Path) -> None:
    """(shot, seed) fixes frames, flip and jitter whatever the global RNG: resumed and DDP runs repeat."""
    first = PreparedDataset(prepared, size=64, split="eval", augment=True)
    second = PreparedDataset(prepared, size=64, split="eval", augment=True)
    torch.manual_seed(1)
    a = first[(1, 5)]
    torch.manual_seed(2)
    b = second[(1, 5)]
    assert same_item(a, b)
    assert not all(same_item(a, first[(1, seed)]) for seed in range(6, 10)), "the seed matters"


@pytest.mark.data
def test_the_flip_mirrors_image_landmarks_and_priors_together(prepared: Path) -> None:
    """A flipped pair is mirrored as a whole: the landmarks follow the pixels (the person's right eye
    moves to the image's right), and source and driving flip together, so a flip is never motion."""
    plain = PreparedDataset(prepared, size=128, split="eval", augment=False)
    augmented = PreparedDataset(prepared, size=128, split="eval", augment=True)
    flips = 0
    for seed in range(12):
        key = (seed % len(plain), seed)
        a, b = plain[key], augmented[key]  # the same frames: the seed draws the frames before the flip
        assert torch.equal(a["mel"], b["mel"])
        flipped = not torch.equal(a["source_landmarks"], b["source_landmarks"])
        flips += flipped
        for name in ("source", "driving"):
            lm, lm_aug = a[f"{name}_landmarks"], b[f"{name}_landmarks"]
            if not flipped:
                assert torch.equal(lm, lm_aug)
                continue
            assert torch.allclose(lm_aug[:, 0], 1 - lm[:, 0]) and torch.equal(lm_aug[:, 1], lm[:, 1])
            assert lm[RIGHT_EYE_OUTER, 0] < 0.5 < lm[LEFT_EYE_OUTER, 0], "a frontal face, as prepared"
            assert lm_aug[RIGHT_EYE_OUTER, 0] > 0.5 > lm_aug[LEFT_EYE_OUTER, 0]
            x, x_aug = a[name], b[name]
            mirrored = x.flip(-1)
            # the pixels are mirrored (colour jitter aside): far closer to the mirror than to the original
            grey, grey_aug, grey_mirror = (t[:3].mean(0) for t in (x, x_aug, mirrored))
            assert float(torch.corrcoef(torch.stack([grey_aug.flatten(), grey_mirror.flatten()]))[0, 1]) > 0.98
            assert (grey_aug - grey_mirror).abs().mean() < 0.5 * (grey_aug - grey).abs().mean()
            # the priors are re-drawn on the mirrored landmarks: the face mask mirrors too
            mask, mask_aug = mirrored[4] > 0.5, x_aug[4] > 0.5
            assert float((mask & mask_aug).sum() / (mask | mask_aug).sum()) > 0.9
    assert 0 < flips < 12, "about half the pairs are flipped"


def relisted(prepared: Path, out: Path) -> Path:
    """The same clips, the MEAD speaker listed with her shot split in two and her clip twice: one
    identity, three shots of unequal length, against GRID's one."""
    index = json.loads((prepared / "index.json").read_text())
    (out / "clips").symlink_to(prepared / "clips")
    mead = next(c for c in index["clips"] if c["identity"] == "mead_W011")
    (shot,) = mead["shots"]
    cut = shot["start"] + (shot["end"] - shot["start"]) // 4
    split_up = {**mead, "shots": [{**shot, "end": cut}, {**shot, "start": cut}]}
    index["clips"] = index["clips"] + [split_up]
    (out / "index.json").write_text(json.dumps(index))
    return out


@pytest.mark.data
def test_each_identity_weighs_the_same_whatever_its_footage(prepared: Path, tmp_path: Path) -> None:
    """One speaker with many clips must not outweigh one with few; her shots share by face frames."""
    ds = PreparedDataset(relisted(prepared, tmp_path), size=128, split="eval")
    assert ds.identities == ["grid_E", "mead_W011"] and len(ds) == 4
    w = ds.sample_weights()
    assert w.shape == (4,) and (w > 0).all() and w.sum() == pytest.approx(1.0)
    identity = np.array([s.identity for s in ds.shots])
    assert w[identity == "grid_E"].sum() == pytest.approx(0.5) and w[identity == "mead_W011"].sum() == pytest.approx(0.5)
    mead = [(s, wi) for s, wi in zip(ds.shots, w) if s.identity == "mead_W011"]
    frames = sum(len(s.good) for s, _ in mead)
    for s, wi in mead:
        assert wi == pytest.approx(0.5 * len(s.good) / frames)
    # the sampler draws by these weights
    drawn = list(identity_balanced_sampler(ds, 4000, generator=torch.Generator().manual_seed(0)))
    share = Counter(identity[i] for i in drawn)
    assert share["grid_E"] / 4000 == pytest.approx(0.5, abs=0.04)


def test_without_pyav_the_shots_decode_with_opencv_to_the_same_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lent GPU machine has no PyAV: there the shots are read with OpenCV, and must give the
    pixels PyAV gives (on the real prepared shots they are equal to the bit), frame for frame."""
    path = tmp_path / "shot00_64.mp4"
    written = write_shot(path, frames=60)
    indices = [59, 0, 26, 25, 7, 7, 49, 50]  # keyframes every 25: across, onto and back
    with_pyav = read_shot_frames(path, indices)
    monkeypatch.setattr(dataset, "av", None)
    with_opencv = read_shot_frames(path, indices)
    for i, a, b in zip(indices, with_pyav, with_opencv):
        assert a.shape == b.shape == (64, 64, 3) and b.dtype == np.uint8
        assert int(np.abs(a.astype(np.int16) - b).max()) <= 1
        assert int(b.mean(axis=(0, 2)).argmax()) == i % 64, "the frame asked for, not a neighbour"
        assert np.abs(b.astype(np.int16) - written[i]).mean() < 3
    with pytest.raises(InputError, match="lacks frames \\[60\\]"):
        read_shot_frames(path, [3, 60])
