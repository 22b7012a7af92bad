"""LPIPS (Zhang et al. 2018), v0.1 'lin' variant, in plain torch.

torchvision does not import on our machines, so AlexNet / VGG16 feature extractors are
written here with torchvision's exact layer layout (so the ImageNet weights from
``codec.losses.weights`` fit), tapping the same ReLU outputs LPIPS uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codec.losses.weights import load_weights

# LPIPS ScalingLayer: maps [-1, 1] inputs to ImageNet-normalised ones.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10


class AlexNetFeatures(nn.Module):
    """torchvision AlexNet ``features``; returns relu1..relu5."""

    channels = (64, 192, 384, 256, 256)

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(3, 64, 11, stride=4, padding=2)
        self.conv1 = nn.Conv2d(64, 192, 5, padding=2)
        self.conv2 = nn.Conv2d(192, 384, 3, padding=1)
        self.conv3 = nn.Conv2d(384, 256, 3, padding=1)
        self.conv4 = nn.Conv2d(256, 256, 3, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        r1 = F.relu(self.conv0(x))
        r2 = F.relu(self.conv1(F.max_pool2d(r1, 3, 2)))
        r3 = F.relu(self.conv2(F.max_pool2d(r2, 3, 2)))
        r4 = F.relu(self.conv3(r3))
        r5 = F.relu(self.conv4(r4))
        return [r1, r2, r3, r4, r5]


class VGG16Features(nn.Module):
    """torchvision VGG16 ``features`` up to relu5_3; returns relu1_2, 2_2, 3_3, 4_3, 5_3."""

    plan = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
    channels = tuple(stage[-1] for stage in plan)

    def __init__(self) -> None:
        super().__init__()
        in_ch, i = 3, 0
        for stage in self.plan:
            for out_ch in stage:
                self.add_module(f"conv{i}", nn.Conv2d(in_ch, out_ch, 3, padding=1))
                in_ch, i = out_ch, i + 1

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs, i = [], 0
        for s, stage in enumerate(self.plan):
            if s:
                x = F.max_pool2d(x, 2, 2)
            for _ in stage:
                x = F.relu(getattr(self, f"conv{i}")(x))
                i += 1
            outs.append(x)
        return outs


BACKBONES = {"alex": (AlexNetFeatures, "alexnet", "lpips_alex"), "vgg": (VGG16Features, "vgg16", "lpips_vgg")}


class LPIPS(nn.Module):
    """Perceptual distance between images in [0, 1]; ``forward`` returns one value per sample.

    Frozen (weights are a fixed metric), but differentiable w.r.t. the inputs so it works as a
    training loss. ``pretrained=False`` builds random weights, only for shape tests.
    """

    def __init__(self, backbone: str = "alex", pretrained: bool = True) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"LPIPS backbone must be one of {sorted(BACKBONES)}, not {backbone!r}")
        net_cls, backbone_weights, linear_weights = BACKBONES[backbone]
        self.net = net_cls()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in net_cls.channels)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            self.net.load_state_dict(load_weights(backbone_weights))
            lin = load_weights(linear_weights)
            for i, layer in enumerate(self.lins):
                layer.weight.data.copy_(lin[f"lin{i}.weight"])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":
        """Stays in eval mode: the metric must not change with the model's train/eval mode."""
        return super().train(False)

    def features(self, image01: torch.Tensor) -> list[torch.Tensor]:
        x = (image01 * 2.0 - 1.0 - self.shift) / self.scale
        return [f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS) for f in self.net(x)]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self.features(x), self.features(y)
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for lin, a, b in zip(self.lins, fx, fy):
            total = total + lin((a - b) ** 2).mean(dim=(1, 2, 3))
        return total
