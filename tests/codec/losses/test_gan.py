import pytest
import torch

from codec.losses.gan import discriminator_loss, feature_matching_loss, generator_adversarial_loss


def scores(value: float) -> dict:
    return {"scale_1": ([torch.full((1, 2, 4, 4), value)], torch.full((1, 1, 3, 3), value))}


def test_least_squares_optimum() -> None:
    assert discriminator_loss(scores(1.0), scores(0.0), "ls").item() == pytest.approx(0.0)
    assert generator_adversarial_loss(scores(1.0), "ls").item() == pytest.approx(0.0)
    assert generator_adversarial_loss(scores(0.0), "ls").item() == pytest.approx(1.0)


def test_bce_is_eq3() -> None:
    # D(x) = sigmoid(0) = 0.5 everywhere: -[log 0.5 + log 0.5]
    assert discriminator_loss(scores(0.0), scores(0.0), "bce").item() == pytest.approx(2 * 0.6931, abs=1e-3)
    assert generator_adversarial_loss(scores(10.0), "bce").item() < 1e-3


def test_feature_matching() -> None:
    assert feature_matching_loss(scores(1.0), scores(1.0)).item() == 0.0
    assert feature_matching_loss(scores(1.0), scores(0.5)).item() == pytest.approx(0.5)
