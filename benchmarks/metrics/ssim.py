"""SSIM (Wang et al. 2004) and MS-SSIM (Wang, Simoncelli, Bovik 2003) on uint8 RGB frames.

Written out (about 40 lines of numpy/scipy, float64) rather than taken from a package, so that the window,
constants and colour handling are the ones stated here: an 11x11 Gaussian window with
sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering (no padding, as the authors'
MATLAB ``ssim_index``), the mean of the SSIM map. Colour: by default SSIM of each RGB
channel, averaged (what scikit-image, pytorch-msssim and piq do with colour input); the
``"y"`` option computes it on BT.601 luma instead. The authors' later ``ssim.m`` also
downsamples images larger than 256 px first; at our 256x256 that step is a no-op, and we do
not apply it for other sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import correlate1d

from benchmarks.metrics.frames import Frames, as_pair, chunks

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
BT601_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class SSIMConfig:
    window: int = 11
    sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03
    data_range: float = 255.0
    channels: str = "rgb"  # "rgb": mean of per-channel SSIM; "y": BT.601 luma only
    batch_size: int = 16


def _gaussian_1d(config: SSIMConfig) -> np.ndarray:
    x = np.arange(config.window, dtype=np.float64) - (config.window - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * config.sigma**2))
    return g / g.sum()


def _filter(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter over the last two axes, 'valid' part only.

    scipy in float64 rather than a grouped torch conv: torch's float64 depthwise conv is 10-20x
    slower on CPU, and float32 loses digits in E[x^2] - mu^2 at 8-bit scale.
    """
    half = len(g) // 2
    x = correlate1d(x, g, axis=-2, mode="constant")[..., half:-half, :]
    return correlate1d(x, g, axis=-1, mode="constant")[..., :, half:-half]


def _ssim_and_cs(x: np.ndarray, y: np.ndarray, config: SSIMConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-image, per-channel mean SSIM and mean contrast-structure term, [N, C] each."""
    g = _gaussian_1d(config)
    c1 = (config.k1 * config.data_range) ** 2
    c2 = (config.k2 * config.data_range) ** 2
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    var_x = _filter(x * x, g) - mu_x**2
    var_y = _filter(y * y, g) - mu_y**2
    cov = _filter(x * y, g) - mu_x * mu_y
    cs_map = (2.0 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2.0 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.mean(axis=(2, 3)), cs_map.mean(axis=(2, 3))


def _to_planes(batch: np.ndarray, config: SSIMConfig) -> np.ndarray:
    """[N, C, H, W] float64 in [0, 255]: float64 so that SSIM(x, x) is 1 to the last digit."""
    x = batch.transpose(0, 3, 1, 2).astype(np.float64)
    if config.channels == "y":
        return np.tensordot(np.asarray(BT601_LUMA), x, axes=([0], [1]))[:, None]
    if config.channels != "rgb":
        raise ValueError(f"SSIM channels must be 'rgb' or 'y', not {config.channels!r}")
    return x


def _downsample2(x: np.ndarray) -> np.ndarray:
    """2x2 average (odd last row/column dropped), the MS-SSIM low-pass + decimation."""
    n, c, h, w = x.shape
    x = x[:, :, : h - h % 2, : w - w % 2]
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def _check_size(h: int, w: int, config: SSIMConfig, scales: int) -> None:
    need = (config.window - 1) * 2 ** (scales - 1) + 1
    if min(h, w) < need:
        raise ValueError(f"{'MS-' if scales > 1 else ''}SSIM with an {config.window}px window needs frames of at least {need}x{need}, got {w}x{h}")


def ssim(reference: Frames, decoded: Frames, config: SSIMConfig = SSIMConfig()) -> np.ndarray:
    """SSIM of each frame pair, in [-1, 1] (1: identical)."""
    ref, dec = as_pair(reference, decoded)
    _check_size(ref.shape[1], ref.shape[2], config, 1)
    out = [_ssim_and_cs(_to_planes(ref[s], config), _to_planes(dec[s], config), config)[0].mean(axis=1) for s in chunks(len(ref), config.batch_size)]
    return np.concatenate(out)


def _ms_ssim_batch(x: np.ndarray, y: np.ndarray, config: SSIMConfig) -> np.ndarray:
    weights = np.asarray(MS_SSIM_WEIGHTS)
    terms = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        s, cs = _ssim_and_cs(x, y, config)
        last = scale == len(MS_SSIM_WEIGHTS) - 1
        # Negative contrast-structure terms (anti-correlated content) would make the fractional
        # power NaN; clamping at 0 is the usual choice (pytorch-msssim does the same).
        terms.append(np.maximum(s if last else cs, 0.0))
        if not last:
            x, y = _downsample2(x), _downsample2(y)
    stacked = np.stack(terms, axis=0)  # [scales, N, C]
    return np.prod(stacked ** weights[:, None, None], axis=0).mean(axis=1)


def ms_ssim(reference: Frames, decoded: Frames, config: SSIMConfig = SSIMConfig()) -> np.ndarray:
    """MS-SSIM of each frame pair, 5 scales with the published weights; frames >= 161 px."""
    ref, dec = as_pair(reference, decoded)
    _check_size(ref.shape[1], ref.shape[2], config, len(MS_SSIM_WEIGHTS))
    out = [_ms_ssim_batch(_to_planes(ref[s], config), _to_planes(dec[s], config), config) for s in chunks(len(ref), config.batch_size)]
    return np.concatenate(out)
