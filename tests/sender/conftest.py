"""Fixtures for the sender's own tests: an untrained tiny model and a real face, no data needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codec.config import load_config
from codec.model import AVFRModel


@pytest.fixture(scope="module")
def tiny_model() -> AVFRModel:
    """Untrained: a render with the keyframe's own keypoints is the keyframe (identity motion)."""
    torch.manual_seed(0)
    return AVFRModel(load_config("tiny")).eval()


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """NASA's astronaut portrait (public domain, in scikit-image), cropped to face and
    shoulders as the tracker would: MediaPipe finds its landmarks."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[20:260, 110:350])
