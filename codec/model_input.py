"""Face crop -> the 5-channel model input (RGB + mesh + mask), one way everywhere.

The sender (driving frames, tracking mode), the receiver (keyframes, static mode), training
preparation and the benchmarks all build the model's input here, so what the networks see at
inference is exactly what they saw in training. MediaPipe runs on the crop at
``crop_size_for(model size)`` (at least 256 px, where the face mesh is reliable); the RGB is
then resized to the model's size and the priors are re-drawn at that size from the landmarks.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from codec.priors import FacePriors, priors_from_landmarks, to_model_input

MIN_PRIOR_SIZE = 256


def crop_size_for(model_size: int) -> int:
    """The face crop size the tracker should cut for a model of this size."""
    return max(model_size, MIN_PRIOR_SIZE)


def resize_rgb(rgb: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bicubic (PIL) resize of a uint8 RGB image to ``size`` x ``size`` (or ``(height, width)``).

    The only resize of pictures: training's crops, the model input, the sender's self-check,
    the evaluation and the receiver's shown picture (a model's output at another size than the
    window's, e.g. light-128 shown at 256) all go through it, so a picture compared, learnt
    from or shown was scaled the same way everywhere."""
    height, width = (size, size) if isinstance(size, int) else size
    if rgb.shape[0] == height and rgb.shape[1] == width:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BICUBIC))


def to_pictures(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``[N, 3, H, W]`` float32 in [0, 1] from uint8 NxHxWx3 frames (pictures pass through, RGB
    only): what the metric networks (LPIPS, DISTS, FID) take, the inverse of :func:`to_uint8_rgb`."""
    if isinstance(frames, torch.Tensor):
        return frames[:, :3].float()
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8_rgb(pictures: torch.Tensor) -> np.ndarray:
    """``[..., C, H, W]`` pictures in [0, 1] -> ``[..., H, W, 3]`` uint8 on the host (channels
    past RGB, the priors of a model input, dropped).

    The one way back from the model's pictures, so that a rendered frame has the same pixels in
    the receiver, the sender's self-check, training's grids and the benchmarks."""
    rgb = pictures.detach()[..., :3, :, :].float().clamp(0, 1)
    return (rgb * 255).round().byte().movedim(-3, -1).cpu().numpy()


def model_input(rgb: np.ndarray, landmarks: np.ndarray | None, landmarks_size: int) -> torch.Tensor:
    """[5, S, S]: RGB already at the model size S + priors drawn from landmarks measured at
    `landmarks_size` pixels (None: no face, zero prior channels)."""
    size = rgb.shape[0]
    scaled = None if landmarks is None else np.asarray(landmarks, np.float32) * (size / landmarks_size)
    return to_model_input(rgb, priors_from_landmarks(scaled, size))


class ModelInputMaker:
    """Holds a MediaPipe session; `make(crop)` gives the model input and whether a face was found."""

    def __init__(self, size: int, static_image_mode: bool) -> None:
        self.size = size
        self.priors = FacePriors(static_image_mode=static_image_mode)

    def make(self, crop: np.ndarray) -> tuple[torch.Tensor, bool]:
        landmarks = self.priors.landmarks(crop)
        return model_input(resize_rgb(crop, self.size), landmarks, crop.shape[0]), landmarks is not None

    def close(self) -> None:
        self.priors.close()
