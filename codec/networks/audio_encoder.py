"""Audio encoders: Enc_aud (a feature map at h/4) and the attention query (paper eq. 2).

The paper says only "2D CNN-based encoder" producing ``h/4 x w/4 x c`` and a second encoder
producing ``1 x 1 x c``. Our choice: a small conv stack over the ``[1, 80, 20]`` log-mel
window (time and frequency pooled together, as lip-sync audio encoders do) reduced to a
vector; for Enc_aud the vector is unfolded into an 8x8 map and upsampled with FOMM up blocks
to ``h/4``, then projected to ``c`` channels.

Input: ``codec.audio_features`` windows, dB mapped to [-1, 1] with silence (and missing
audio) at ``SILENCE_VALUE`` = -1. Silence is just that constant window; nothing special
happens here. A BatchNorm on the input still re-centres it: speech sits in a narrow band of
that range, and the net should not depend on the exact dB mapping.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from codec.config import ModelConfig
from codec.networks.blocks import DownBlock2d, SameBlock2d, UpBlock2d


class MelEncoder(nn.Module):
    """``[B, 1, n_mels, frames]`` -> ``[B, out_features]``."""

    def __init__(self, block_expansion: int, out_features: int) -> None:
        super().__init__()
        a = block_expansion
        self.input_norm = nn.BatchNorm2d(1)
        self.convs = nn.Sequential(
            SameBlock2d(1, a),
            DownBlock2d(a, 2 * a),
            DownBlock2d(2 * a, 4 * a),
            DownBlock2d(4 * a, 8 * a),
        )
        self.fc = nn.Linear(8 * a, out_features)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.convs(self.input_norm(mel))
        return self.fc(x.mean(dim=(2, 3)))


class AudioEncoder(nn.Module):
    """Enc_aud: log-mel window -> ``[B, audio_channels, h/4, w/4]``."""

    seed_size = 8

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        a = cfg.audio_block_expansion
        self.mel = MelEncoder(a, cfg.audio_embedding)
        seed = min(self.seed_size, cfg.feature_size)
        self.seed = seed
        self.unfold = nn.Linear(cfg.audio_embedding, 2 * a * seed * seed)
        ups = int(math.log2(cfg.feature_size // seed))
        self.up = nn.Sequential(*(UpBlock2d(2 * a, 2 * a) for _ in range(ups)))
        self.project = nn.Conv2d(2 * a, cfg.audio_channels, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        emb = torch.relu(self.mel(mel))
        x = self.unfold(emb).view(mel.shape[0], -1, self.seed, self.seed)
        return self.project(self.up(x))


class AttentionEncoder(nn.Module):
    """Enc_query (1x1xc) and the audio-visual attention of paper eq. 2.

    attention(i, j) = sigmoid(<query, Enc_motion(i, j)> / sqrt(c)). The 1/sqrt(c) scaling is
    ours (as in dot-product attention): without it the sigmoid saturates at initialisation
    for c = 256 and its gradient vanishes.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.channels = cfg.motion_channels
        self.mel = MelEncoder(cfg.attention_block_expansion, cfg.motion_channels)

    def query(self, mel: torch.Tensor) -> torch.Tensor:
        return self.mel(mel)

    def forward(self, mel: torch.Tensor, motion_features: torch.Tensor) -> torch.Tensor:
        """``[B, 1, h/4, w/4]`` in (0, 1)."""
        q = self.query(mel)
        logits = torch.einsum("bc,bchw->bhw", q, motion_features) / math.sqrt(self.channels)
        return torch.sigmoid(logits).unsqueeze(1)
