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


def resize_rgb(rgb: np.ndarray, size: int) -> np.ndarray:
    """Bicubic (PIL) resize of a uint8 RGB image to size x size; the only resize used for crops."""
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))


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
