"""LPIPS per frame: the metric flavour, AlexNet backbone, v0.1 linear layers.

The network is :class:`codec.losses.lpips.LPIPS` (one implementation for the training loss
and the metric). As a *metric* the field reports LPIPS-Alex v0.1 (the LPIPS authors' own
advice, and what the JVET GFVC conditions quote); the VGG variant is the one usually taken
as a training loss, so keep the two apart in reports: :data:`FLAVOUR` names what was run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.metrics.frames import Frames, as_pair, chunks
from codec.losses.lpips import LPIPS
from codec.model_input import to_pictures


@dataclass(frozen=True)
class LPIPSConfig:
    backbone: str = "alex"
    batch_size: int = 16

    @property
    def flavour(self) -> str:
        return f"LPIPS v0.1 {self.backbone} (lin), inputs scaled to [-1, 1], lower is better"


FLAVOUR = LPIPSConfig().flavour


class LPIPSMetric:
    """Holds the network so that a clip's frames, or many clips, load the weights once."""

    def __init__(self, config: LPIPSConfig = LPIPSConfig()) -> None:
        self.config = config
        self.net = LPIPS(backbone=config.backbone, pretrained=True)

    @torch.inference_mode()
    def __call__(self, reference: Frames, decoded: Frames) -> np.ndarray:
        """LPIPS of each frame pair (0: identical)."""
        ref, dec = as_pair(reference, decoded)
        out = [self.net(to_pictures(ref[s]), to_pictures(dec[s])) for s in chunks(len(ref), self.config.batch_size)]
        return torch.cat(out).double().numpy()
