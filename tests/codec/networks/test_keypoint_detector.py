import pytest
import torch

from codec.config import ModelConfig
from codec.networks.keypoint_detector import KeypointDetector


def test_output_layout(tiny_config: ModelConfig) -> None:
    det = KeypointDetector(tiny_config)
    kp = det(torch.rand(3, 5, 64, 64))
    assert kp.shape == (3, tiny_config.num_kp, 6)
    assert kp[..., :2].abs().max() <= 1.0


def test_jacobians_start_as_identity(tiny_config: ModelConfig) -> None:
    kp = KeypointDetector(tiny_config)(torch.rand(2, 5, 64, 64))
    assert torch.allclose(kp[..., 2:], torch.tensor([1.0, 0.0, 0.0, 1.0]).expand_as(kp[..., 2:]), atol=1e-6)


def test_keypoint_follows_a_peaked_heatmap(tiny_config: ModelConfig) -> None:
    """(x, y) is the heatmap mean in grid_sample coordinates: x right, y down."""
    det = KeypointDetector(tiny_config)
    heat = torch.full((1, tiny_config.num_kp, 32, 32), -1e4)
    heat[0, 0, 0, 31] = 0.0  # top-right pixel
    det.heatmap = torch.nn.Identity()
    probs = det.heatmaps(heat)
    grid_x = (probs[0, 0] * torch.linspace(-1, 1, 32).view(1, 32)).sum()
    grid_y = (probs[0, 0] * torch.linspace(-1, 1, 32).view(32, 1)).sum()
    assert grid_x.item() == pytest.approx(1.0) and grid_y.item() == pytest.approx(-1.0)
