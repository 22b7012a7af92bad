"""The mouth crop: centred on the lips, aligned between prediction and target, differentiable."""

from __future__ import annotations

import torch

from codec.losses.mouth import crop_mouth


def lips_at(cx: float, cy: float, width: float) -> torch.Tensor:
    lm = torch.full((1, 468, 2), 0.5)
    lm[0, 61] = torch.tensor([cx - width / 2, cy])
    lm[0, 291] = torch.tensor([cx + width / 2, cy])
    lm[0, 0] = torch.tensor([cx, cy - width / 4])
    lm[0, 17] = torch.tensor([cx, cy + width / 4])
    return lm


def test_crop_is_centred_on_the_mouth() -> None:
    image = torch.zeros(1, 3, 256, 256)
    image[:, :, 180:190, 120:136] = 1.0  # a bright patch around (0.5, 0.72)
    crop = crop_mouth(image, lips_at(0.5, 0.72, 0.2), size=64)
    assert crop.shape == (1, 3, 64, 64)
    ys, xs = torch.nonzero(crop[0, 0] > 0.5, as_tuple=True)
    assert abs(float(ys.float().mean()) - 31.5) < 3 and abs(float(xs.float().mean()) - 31.5) < 3
    # the patch, 16 px wide in a box 1.6 x 0.2 x 256 = 82 px wide, covers ~1/5 of the crop
    assert 8 < int(xs.max() - xs.min()) < 18


def test_gradient_reaches_the_image() -> None:
    image = torch.rand(2, 3, 64, 64, requires_grad=True)
    crop_mouth(image, lips_at(0.5, 0.7, 0.3).expand(2, -1, -1)).sum().backward()
    assert image.grad is not None and float(image.grad.abs().sum()) > 0
