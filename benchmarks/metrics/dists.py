"""DISTS (Ding et al., TPAMI 2020): structure and texture similarity on VGG16 features.

A primary metric of the JVET generative-face-video conditions. Rewritten in plain torch
after the authors' ``DISTS_pytorch/DISTS_pt.py`` (which needs torchvision): the VGG16
convolutions are :class:`codec.losses.lpips.VGG16Features` with the ImageNet weights from
``codec.losses.weights``; the max-pools become the authors' L2 pooling (Hanning 3x3,
stride 2); the learned alpha/beta come from ``dists-pytorch==0.1``'s ``weights.pt``, read as
plain tensors. Lower is better; 0 for identical images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.metrics.frames import FrameMemo, Frames, as_pair, chunks
from codec.losses.lpips import VGG16Features
from codec.losses.weights import load_weights
from codec.metric_weights import load_tensors
from codec.model_input import to_pictures

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STABILITY = 1e-6  # c1 = c2 in the paper's code


class L2Pooling(nn.Module):
    """sqrt(Hanning-weighted mean of x^2), stride 2: the anti-aliased pooling DISTS uses."""

    def __init__(self, channels: int, filter_size: int = 5) -> None:
        super().__init__()
        a = torch.from_numpy(np.hanning(filter_size)[1:-1]).float()
        g = a[:, None] * a[None, :]
        self.padding = (filter_size - 2) // 2
        self.register_buffer("filter", (g / g.sum())[None, None].repeat(channels, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x**2, self.filter, stride=2, padding=self.padding, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class DISTS(nn.Module):
    """Per-sample DISTS of images in [0, 1]; frozen, differentiable w.r.t. the inputs."""

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        self.vgg = VGG16Features()
        self.pools = nn.ModuleList(L2Pooling(stage[-1]) for stage in VGG16Features.plan[:-1])
        self.chns = (3,) + VGG16Features.channels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.alpha = nn.Parameter(torch.full((1, sum(self.chns), 1, 1), 0.1))
        self.beta = nn.Parameter(torch.full((1, sum(self.chns), 1, 1), 0.1))
        if pretrained:
            self.vgg.load_state_dict(load_weights("vgg16"))
            ab = load_tensors("dists_alpha_beta")
            self.alpha.data.copy_(ab["alpha"])
            self.beta.data.copy_(ab["beta"])
        self.requires_grad_(False)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[image, relu1_2, relu2_2, relu3_3, relu4_3, relu5_3] with L2 pooling between stages."""
        h = (x - self.mean) / self.std
        feats, i = [x], 0
        for s, stage in enumerate(VGG16Features.plan):
            if s:
                h = self.pools[s - 1](h)
            for _ in stage:
                h = F.relu(getattr(self.vgg, f"conv{i}")(h))
                i += 1
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.compare_features(self.features(x), self.features(y))

    def compare_features(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        """DISTS from the two sides' :meth:`features` (so one side's can be computed once)."""
        x = fx[0]
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, self.chns, dim=1)
        betas = torch.split(self.beta / w_sum, self.chns, dim=1)
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for a, b, alpha, beta in zip(fx, fy, alphas, betas):
            mu_a, mu_b = a.mean(dim=(2, 3), keepdim=True), b.mean(dim=(2, 3), keepdim=True)
            texture = (2 * mu_a * mu_b + STABILITY) / (mu_a**2 + mu_b**2 + STABILITY)
            var_a = ((a - mu_a) ** 2).mean(dim=(2, 3), keepdim=True)
            var_b = ((b - mu_b) ** 2).mean(dim=(2, 3), keepdim=True)
            cov = (a * b).mean(dim=(2, 3), keepdim=True) - mu_a * mu_b
            structure = (2 * cov + STABILITY) / (var_a + var_b + STABILITY)
            total = total + (alpha * texture + beta * structure).sum(dim=(1, 2, 3))
        return 1.0 - total


@dataclass(frozen=True)
class DISTSConfig:
    batch_size: int = 8
    reference_memo_frames: int = 16


class DISTSMetric:
    """Holds the network so that the VGG16 weights load once per run.

    The VGG features of reference frames are kept (``FrameMemo``, a few frames: ~30 MB each
    at 256 px): a benchmark scores many codec points against the same reference frames, and
    the reference side is half of every DISTS evaluation.
    """

    def __init__(self, config: DISTSConfig = DISTSConfig()) -> None:
        self.config = config
        self.net = DISTS(pretrained=True)
        self._reference = FrameMemo(max_entries=config.reference_memo_frames)

    @torch.inference_mode()
    def __call__(self, reference: Frames, decoded: Frames) -> np.ndarray:
        """DISTS of each frame pair (0: identical)."""
        ref, dec = as_pair(reference, decoded)
        out = []
        for s in chunks(len(ref), self.config.batch_size):
            per_frame = [self._reference.get(r, self._features_of_one) for r in ref[s]]
            fx = [torch.cat([f[level] for f in per_frame]) for level in range(len(per_frame[0]))]  # type: ignore[index]
            out.append(self.net.compare_features(fx, self.net.features(to_pictures(dec[s]))))
        return torch.cat(out).double().numpy()

    def _features_of_one(self, frame: np.ndarray) -> list[torch.Tensor]:
        return self.net.features(to_pictures(frame[None]))
