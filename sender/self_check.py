"""The sender's self-check: a receiver of its own stream, kept inside the sender.

The refresh policy (``sender/refresh.py``) sends a new keyframe when the receiver's picture has
drifted too far from the camera's. To know what the receiver shows, the sender renders it as
the receiver will: from the decoded keyframe (not the camera's crop), through a MediaPipe
session for still pictures (as the receiver's), with the keypoints as quantised and the same
generator (with silence: see ``sender/refresh.py``); and scores that render against the
camera's crop.

Avatar mode (``sender/avatar.py``) asks the same shadow receiver for the photo's keypoints, so
that the motion it sends is relative to the keypoints the receiver will compute.
"""

from __future__ import annotations

import numpy as np
import torch

from codec.evaluation import psnr
from codec.media.keyframe import decode_keyframe
from codec.model import AVFRModel, silent_mel, warm_up
from codec.model_input import ModelInputMaker, resize_rgb, to_uint8_rgb


class ShadowReceiver:
    """What the receiver holds after each keyframe, and what it renders from keypoints."""

    def __init__(self, model: AVFRModel) -> None:
        self.model = model
        self.size = model.config.image_size
        self._inputs: ModelInputMaker | None = None  # made on first use: a MediaPipe session takes ~0.6 s to start
        self._state = None  # the decoded keyframe's source state, as the receiver computes it
        self._silence_mel = silent_mel()

    def _input_maker(self) -> ModelInputMaker:
        """Priors of a decoded keyframe, as the receiver makes them (a still-picture session)."""
        if self._inputs is None:
            self._inputs = ModelInputMaker(self.size, static_image_mode=True)
        return self._inputs

    @torch.no_grad()
    def on_keyframe(self, data: bytes, codec: int) -> bool:
        """Take a keyframe as sent (coded): decoded and encoded as the receiver will. Returns
        whether MediaPipe found the face's landmarks in it."""
        x5, found = self._input_maker().make(decode_keyframe(data, codec))
        self._state = self.model.encode_source(x5.unsqueeze(0))
        return found

    def source_keypoints(self) -> torch.Tensor:
        """[K, 6]: the last keyframe's keypoints, as the receiver computes them."""
        return self._state.keypoints[0].float().cpu()

    @torch.no_grad()
    def render_psnr(self, keypoints: np.ndarray, crop: np.ndarray) -> float:
        """PSNR of what the receiver will render from ``keypoints`` (as sent, [K, 6]) against
        the camera's ``crop`` of the same frame."""
        kp = torch.from_numpy(keypoints).unsqueeze(0)
        out = self.model.reconstruct(self._state, kp, self._silence_mel)
        return psnr(to_uint8_rgb(out[0]), resize_rgb(crop, self.size))

    @torch.no_grad()
    def warm_up(self, picture: np.ndarray) -> None:
        """One keyframe encoding and one render on ``picture``, so that the first real check
        does not pay for their set-up."""
        x5, _ = self._input_maker().make(picture)
        warm_up(self.model, x5.unsqueeze(0))
