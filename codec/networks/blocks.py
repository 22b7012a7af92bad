"""Layers shared by the networks.

The down/up/same blocks, hourglass and anti-alias downsampling follow
first-order-model (FOMM, Siarohin et al. 2019) since the AVFR-GAN paper reuses FOMM's
keypoint detector and motion module without restating them. SPADE follows Park et al. 2019.

Coordinate convention: a grid over ``h x w`` pixels runs from -1 (first pixel centre) to +1
(last pixel centre), ``x`` then ``y``; every ``F.grid_sample`` here uses
``align_corners=True`` so that sampling with the identity grid returns the input exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_coordinate_grid(height: int, width: int, dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> torch.Tensor:
    """Identity sampling grid ``[h, w, 2]`` as (x, y) in [-1, 1] (align_corners=True)."""
    ys = torch.linspace(-1.0, 1.0, height, dtype=dtype, device=device)
    xs = torch.linspace(-1.0, 1.0, width, dtype=dtype, device=device)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], dim=-1)


def warp(features: torch.Tensor, grid: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``features`` at ``grid`` ([B, h, w, 2]); resizes the grid to the features first.

    The deformation is estimated at a low resolution (FOMM); it is a smooth field, so
    bilinear resizing of the grid is how it is applied at every feature scale.
    """
    h, w = features.shape[-2:]
    if grid.shape[1:3] != (h, w):
        grid = F.interpolate(grid.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=True)
        grid = grid.permute(0, 2, 3, 1)
    return F.grid_sample(features, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class AntiAliasDownsample(nn.Module):
    """Gaussian blur then subsample (FOMM's AntiAliasInterpolation2d): cheap, alias-free input
    pyramids for the keypoint detector, dense motion and multi-scale discriminator.

    The gaussian is applied as two 1-D passes, each computed only at the kept positions
    (strided): the same numbers as FOMM's 2-D kernel followed by subsampling, at a fraction of
    the cost once the scale is small (1/8 of a 256-px input: 29 taps a pass instead of 29x29
    at every pixel)."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.scale = float(scale)
        self.channels = channels
        if self.scale == 1.0:
            self.register_buffer("kernel", torch.ones(1), persistent=False)
            return
        sigma = (1.0 / self.scale - 1.0) / 2.0
        size = 2 * round(sigma * 4) + 1
        coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        g = torch.exp(-(coords**2) / (2 * sigma**2))
        self.pad = size // 2
        self.register_buffer("kernel", (g / g.sum()).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        inv = 1.0 / self.scale
        step = int(round(inv)) if abs(inv - round(inv)) < 1e-6 else 1
        x = F.pad(x, (self.pad,) * 4, mode="reflect" if min(x.shape[-2:]) > self.pad else "replicate")
        g = self.kernel.to(x.dtype)
        x = F.conv2d(x, g.view(1, 1, 1, -1).expand(self.channels, 1, 1, -1), stride=(1, step), groups=self.channels)
        x = F.conv2d(x, g.view(1, 1, -1, 1).expand(self.channels, 1, -1, 1), stride=(step, 1), groups=self.channels)
        if step == 1:
            return F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return x


class SameBlock2d(nn.Module):
    """Conv-BN-ReLU at constant resolution (FOMM)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    """Conv-BN-ReLU then 2x average pooling (FOMM)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class UpBlock2d(nn.Module):
    """2x nearest upsampling then Conv-BN-ReLU (FOMM)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    """FOMM hourglass: encoder of DownBlocks, decoder of UpBlocks with concatenated skips.

    Output has ``block_expansion + in_features`` channels at the input resolution (the last
    skip is the input itself), as in FOMM.
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()

        def ch(i: int) -> int:
            return min(max_features, block_expansion * 2**i)

        self.down = nn.ModuleList(DownBlock2d(in_features if i == 0 else ch(i), ch(i + 1)) for i in range(num_blocks))
        up = []
        for i in reversed(range(num_blocks)):
            in_ch = (1 if i == num_blocks - 1 else 2) * ch(i + 1)
            up.append(UpBlock2d(in_ch, ch(i)))
        self.up = nn.ModuleList(up)
        self.out_channels = block_expansion + in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for block in self.down:
            skips.append(block(skips[-1]))
        out = skips.pop()
        for block in self.up:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. 2019): param-free norm, then a per-pixel
    scale and shift predicted from a conditioning map.

    Cost-driven departures from GauGAN (ours): (1) the conditioning map arrives already
    embedded (``hidden`` channels, one shared embedding conv per network instead of one per
    SPADE layer: with a 513-channel Enc_dec at 64x64 the per-layer version alone cost
    ~150 GFLOPs per frame at 256 px); (2) gamma/beta are predicted at the conditioning map's
    resolution (h/4) and bilinearly upsampled, so a full-resolution decoder block does not
    pay for full-resolution modulation convs. The modulation is smooth anyway; fine detail
    comes from the identity skips.
    """

    def __init__(self, channels: int, hidden: int, norm: str = "batch") -> None:
        super().__init__()
        if norm == "batch":
            self.norm = nn.BatchNorm2d(channels, affine=False)
        else:
            self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.gamma_beta = nn.Conv2d(hidden, 2 * channels, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if cond.shape[-2] > size[0]:
            cond = F.interpolate(cond, size=size, mode="bilinear", align_corners=False)
        gamma, beta = resize_to(self.gamma_beta(cond), size).chunk(2, dim=1)
        return self.norm(x) * (1.0 + gamma) + beta


class SPADEResBlock(nn.Module):
    """Residual block with SPADE normalisation (GauGAN's SPADEResnetBlock, LeakyReLU 0.2).

    ``cond`` is the embedded conditioning map (``hidden`` channels), see :class:`SPADE`.
    """

    def __init__(self, in_ch: int, out_ch: int, hidden: int, norm: str = "batch") -> None:
        super().__init__()
        mid = min(in_ch, out_ch)
        self.norm1 = SPADE(in_ch, hidden, norm)
        self.conv1 = nn.Conv2d(in_ch, mid, 3, padding=1)
        self.norm2 = SPADE(mid, hidden, norm)
        self.conv2 = nn.Conv2d(mid, out_ch, 3, padding=1)
        self.shortcut: nn.Module | None = None
        if in_ch != out_ch:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        out = self.conv1(F.leaky_relu(self.norm1(x, cond), 0.2))
        out = self.conv2(F.leaky_relu(self.norm2(out, cond), 0.2))
        return skip + out


def condition_encoder(in_channels: int, hidden: int) -> nn.Module:
    """The shared SPADE embedding of a conditioning map (GauGAN's mlp_shared, once per network)."""
    return nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU())


def kp_to_gaussian(kp_xy: torch.Tensor, size: tuple[int, int], variance: float) -> torch.Tensor:
    """Gaussian blobs ``[B, K, h, w]`` around keypoints ``[B, K, 2]`` (FOMM kp2gaussian)."""
    grid = make_coordinate_grid(size[0], size[1], kp_xy.dtype, kp_xy.device)
    diff = grid.view(1, 1, size[0], size[1], 2) - kp_xy.view(*kp_xy.shape[:2], 1, 1, 2)
    return torch.exp(-0.5 * (diff**2).sum(-1) / variance)


def inverse_2x2(m: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of ``[..., 2, 2]`` matrices: faster and batch-safe vs torch.inverse."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    det = torch.where(det.abs() < 1e-6, torch.full_like(det, 1e-6) * torch.sign(det + 1e-12), det)
    inv = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    return inv / det[..., None, None]


def split_keypoints(kp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, K, 6]`` -> positions ``[B, K, 2]`` and Jacobians ``[B, K, 2, 2]`` (row-major)."""
    return kp[..., :2], kp[..., 2:6].reshape(*kp.shape[:-1], 2, 2)


def join_keypoints(value: torch.Tensor, jacobian: torch.Tensor) -> torch.Tensor:
    return torch.cat([value, jacobian.reshape(*jacobian.shape[:-2], 4)], dim=-1)


def logit(x: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.clamp(eps, 1.0 - eps)
    return torch.log(x) - torch.log1p(-x)


def apply_norm(module: nn.Module, kind: str) -> nn.Module:
    """Swap every BatchNorm2d for a per-sample GroupNorm when ``kind == "group"``.

    Done after construction so each network keeps FOMM's BatchNorm layout by default and the
    choice lives in one place. Affine BatchNorms become affine GroupNorms; SPADE's parameter-
    free norms stay parameter-free.
    """
    if kind == "batch":
        return module
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.GroupNorm(1, child.num_features, eps=child.eps, affine=child.affine))
        else:
            apply_norm(child, kind)
    return module
