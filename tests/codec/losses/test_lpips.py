import pytest
import torch

from codec.losses.lpips import LPIPS


def smooth_image(size: int = 128) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    return torch.stack([xx, yy, 0.5 + 0.4 * torch.sin(12 * xx) * torch.cos(9 * yy)]).unsqueeze(0)


@pytest.fixture(scope="module", params=["alex", "vgg"])
def lpips(request: pytest.FixtureRequest, lpips_weights: None) -> LPIPS:
    return LPIPS(request.param)


def test_identical_images_are_at_zero(lpips: LPIPS) -> None:
    x = torch.rand(2, 3, 64, 64)
    assert lpips(x, x).abs().max() < 1e-6


def test_grows_with_noise(lpips: LPIPS) -> None:
    img = smooth_image(64)
    noise = torch.randn(img.shape, generator=torch.Generator().manual_seed(0))
    values = [lpips(img, (img + s * noise).clamp(0, 1)).item() for s in (0.02, 0.05, 0.1, 0.2)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert 0.0 < values[0] and values[-1] < 1.5


def test_reference_values(lpips_weights: None) -> None:
    """Measured with these weights on 2026-11-22 (plain-torch port; lpips==0.1.4's math):
    a regression guard for the conversion. The LPIPS repo's own example triplet is not
    available offline (WEIGHTS.md reports it matched the published 0.722 / 0.138)."""
    img = smooth_image()
    alex = LPIPS("alex")
    noise = torch.randn(img.shape, generator=torch.Generator().manual_seed(0))
    noisy = (img + 0.1 * noise).clamp(0, 1)
    assert alex(img, noisy).item() == pytest.approx(0.4656, abs=2e-3)
    assert LPIPS("vgg")(img, noisy).item() == pytest.approx(0.5461, abs=2e-3)
    assert alex(img, torch.zeros_like(img)).item() == pytest.approx(0.8822, abs=2e-3)


def test_gradient_reaches_the_input(lpips_weights: None) -> None:
    alex = LPIPS("alex")
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    alex(x, torch.rand(1, 3, 64, 64)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in alex.parameters())


def test_stays_in_eval_mode() -> None:
    m = LPIPS("alex", pretrained=False).train()
    assert not m.training
