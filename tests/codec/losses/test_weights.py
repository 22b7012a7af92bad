import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from codec.errors import ModelError
from codec.losses import weights


@pytest.mark.parametrize("name", sorted(weights.WEIGHT_FILES))
def test_package_members_match_pinned_sha256(lpips_weights: None, name: str) -> None:
    w = weights.WEIGHT_FILES[name]
    data = weights.read_member(w)
    assert hashlib.sha256(data).hexdigest() == w.sha256


def test_pins_agree_with_weights_md_prefixes() -> None:
    prefixes = {"alexnet": "443c5bc35326b81e", "vgg16": "2ecbe4ce01168921", "lpips_alex": "df73285e35b22355"}
    for name, prefix in prefixes.items():
        assert weights.WEIGHT_FILES[name].sha256.startswith(prefix)


def test_converted_backbones_are_oihw(lpips_weights: None) -> None:
    alex = weights.load_weights("alexnet")
    assert alex["conv0.weight"].shape == (64, 3, 11, 11)
    assert alex["conv4.weight"].shape == (256, 256, 3, 3)
    vgg = weights.load_weights("vgg16")
    assert vgg["conv0.weight"].shape == (64, 3, 3, 3) and vgg["conv12.weight"].shape == (512, 512, 3, 3)
    lin = weights.load_weights("lpips_alex")
    assert lin["lin0.weight"].shape == (1, 64, 1, 1) and (lin["lin0.weight"] >= 0).all()
    assert (weights.converted_dir() / f"alexnet-{weights.WEIGHT_FILES['alexnet'].sha256}.safetensors").is_file()


def test_missing_archives_say_to_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVFR_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match="avfr fetch-weights") as exc:
        weights.load_weights("alexnet")
    assert "\n" not in str(exc.value)


def test_tampered_archive_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVFR_CACHE", str(tmp_path))
    w = weights.WEIGHT_FILES["alexnet"]
    weights.packages_dir().mkdir(parents=True)
    with tarfile.open(weights.packages_dir() / w.archive.filename, "w:gz") as tar:
        payload = pickle.dumps({"AlexNet_0": {}})
        info = tarfile.TarInfo(w.member)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(ModelError, match="sha256"):
        weights.load_weights("alexnet")


def test_restricted_unpickler_reads_arrays_and_refuses_code() -> None:
    arrays = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)}}
    loaded = weights.NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arrays))).load()
    assert np.array_equal(loaded["a"]["kernel"], arrays["a"]["kernel"])
    evil = pickle.dumps(torch.nn.Identity())
    with pytest.raises(pickle.UnpicklingError):
        weights.NumpyOnlyUnpickler(io.BytesIO(evil)).load()
