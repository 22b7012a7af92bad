import torch

from codec.config import ModelConfig
from codec.losses.equivariance import RandomTransform, equivariance_losses
from codec.networks.keypoint_detector import KeypointDetector


def test_identity_transform_gives_zero(tiny_config: ModelConfig) -> None:
    det = KeypointDetector(tiny_config).eval()
    torch.nn.init.normal_(det.jacobian.weight, std=0.05)  # non-trivial Jacobians
    x = torch.rand(2, 5, 64, 64)
    with torch.no_grad():
        value, jac = equivariance_losses(det, x, det(x), RandomTransform.identity(2))
    assert value.item() < 1e-4 and jac.item() < 1e-4


def test_random_transform_gives_positive_loss(tiny_config: ModelConfig) -> None:
    det = KeypointDetector(tiny_config).eval()
    x = torch.rand(2, 5, 64, 64)
    t = RandomTransform.random(2, 0.05, 0.005, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        value, jac = equivariance_losses(det, x, det(x), t)
    assert value.item() > 1e-4


def test_identity_transform_keeps_the_frame() -> None:
    x = torch.rand(1, 5, 20, 30)
    assert torch.allclose(RandomTransform.identity(1).transform_frame(x), x, atol=1e-5)


def test_closed_form_jacobian_matches_autograd() -> None:
    t = RandomTransform.random(3, 0.05, 0.05, 5, generator=torch.Generator().manual_seed(1))
    coords = (torch.rand(3, 7, 2) * 1.6 - 0.8).requires_grad_(True)
    warped = t.warp_coordinates(coords)
    gx = torch.autograd.grad(warped[..., 0].sum(), coords, retain_graph=True)[0]
    gy = torch.autograd.grad(warped[..., 1].sum(), coords)[0]
    expected = torch.stack([gx, gy], dim=-2)
    assert torch.allclose(t.jacobian(coords.detach()), expected, atol=1e-5)
