"""The per-clip store behind ``benchmarks.rd --resume``: a clip comes back only as it was made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.clip_store import ClipStore, StoredClip


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "a.mp4"
    path.write_bytes(b"not really a video, but bytes to hash")
    return path


def stored() -> StoredClip:
    return StoredClip({"clip": "a.mp4", "points": {"avfr": {"lpips": 0.1}}}, {"reference": np.ones((3, 4), np.float32)}, {"timing": {"avfr_s": 2.0}})


def test_round_trip(tmp_path: Path, clip: Path) -> None:
    store = ClipStore(tmp_path / "work", {"qps": [37, 52], "model": "abc"})
    assert store.load(clip) is None
    store.save(clip, stored())
    back = store.load(clip)
    assert back is not None and back.record == stored().record and back.costs == stored().costs
    np.testing.assert_array_equal(back.features["reference"], stored().features["reference"])


def test_other_settings_model_or_clip_are_not_taken_back(tmp_path: Path, clip: Path) -> None:
    ClipStore(tmp_path / "work", {"qps": [37, 52], "model": "abc"}).save(clip, stored())
    assert ClipStore(tmp_path / "work", {"qps": [37, 47], "model": "abc"}).load(clip) is None
    assert ClipStore(tmp_path / "work", {"qps": [37, 52], "model": "abd"}).load(clip) is None
    clip.write_bytes(clip.read_bytes() + b"!")
    assert ClipStore(tmp_path / "work", {"qps": [37, 52], "model": "abc"}).load(clip) is None


def test_a_clip_cut_off_while_stored_is_not_done(tmp_path: Path, clip: Path) -> None:
    store = ClipStore(tmp_path / "work", {})
    store.save(clip, stored())
    npz = tmp_path / "work" / "a.mp4.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    assert store.load(clip) is None
    store.save(clip, stored())
    (tmp_path / "work" / "a.mp4.json").write_text('{"fingerprint": ')
    assert store.load(clip) is None
