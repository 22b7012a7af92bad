import dataclasses

import pytest
import torch

from codec.config import ModelConfig
from codec.face_measures import LIP_LANDMARKS
from codec.losses.lpips import LPIPS
from codec.model import AVFRModel
from codec.networks.discriminator import Discriminator
from codec.training.full_model import FEATURE_LANDMARKS, DiscriminatorFullModel, GeneratorFullModel
from codec.training.loss_config import LossConfig

SUBNETS = [
    "kp_detector",
    "dense_motion",
    "audio_encoder",
    "attention_encoder",
    "generator.identity_encoder",
    "generator.motion_encoder",
    "generator.bottleneck",
    "generator.fuse",
    "generator.final",
]


def make(
    cfg: ModelConfig, losses: LossConfig | None = None, pretrained_lpips: bool = False
) -> tuple[AVFRModel, Discriminator, GeneratorFullModel, DiscriminatorFullModel]:
    torch.manual_seed(0)
    losses = losses or LossConfig()
    model, disc = AVFRModel(cfg), Discriminator(cfg)
    gen_full = GeneratorFullModel(model, disc, losses, lpips=LPIPS(losses.lpips_backbone, pretrained=pretrained_lpips))
    return model, disc, gen_full, DiscriminatorFullModel(disc, losses)


def grad_norm(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def test_losses_dict(tiny_config: ModelConfig, tiny_batch: dict[str, torch.Tensor]) -> None:
    _, _, gen_full, disc_full = make(tiny_config, LossConfig(loss_feature_matching=1.0))
    losses, generated = gen_full(tiny_batch)
    assert set(losses) == {"l1", "perceptual", "equivariance_value", "equivariance_jacobian", "gan", "feature_matching"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    assert generated["prediction"].shape == (2, 3, 64, 64)
    d = disc_full(tiny_batch, generated)
    assert set(d) == {"disc"} and torch.isfinite(d["disc"])


def test_landmark_flow_term_when_the_batch_has_landmarks(tiny_config: ModelConfig, tiny_batch: dict[str, torch.Tensor]) -> None:
    model, _, gen_full, _ = make(tiny_config, LossConfig(loss_landmark_flow=10.0))
    lm = torch.rand(2, 468, 2) * 0.5 + 0.25
    assert "landmark_flow" not in gen_full(tiny_batch, use_gan=False)[0]  # no landmarks, no term
    losses, _ = gen_full({**tiny_batch, "source_landmarks": lm, "driving_landmarks": lm + 0.05}, use_gan=False)
    assert losses["landmark_flow"] > 0
    losses["landmark_flow"].backward()
    assert grad_norm(model.kp_detector) > 0 and grad_norm(model.dense_motion) > 0


def test_feature_landmark_flow_sees_only_the_lips_and_eyes(tiny_config: ModelConfig, tiny_batch: dict[str, torch.Tensor]) -> None:
    """Moving every other landmark costs it nothing; moving the lips by a pixel does."""
    _, _, gen_full, _ = make(tiny_config, LossConfig(loss_feature_landmark_flow=10.0, feature_landmark_flow_tolerance_px=0.5))
    lm = torch.rand(2, 468, 2) * 0.5 + 0.25
    others = torch.ones(468, dtype=torch.bool)
    others[list(FEATURE_LANDMARKS)] = False
    far_elsewhere = lm.clone()
    far_elsewhere[:, others] += 0.2
    base = gen_full({**tiny_batch, "source_landmarks": lm, "driving_landmarks": lm}, use_gan=False)[0]["feature_landmark_flow"]
    moved = gen_full({**tiny_batch, "source_landmarks": far_elsewhere, "driving_landmarks": lm}, use_gan=False)[0]["feature_landmark_flow"]
    assert torch.equal(base, moved)
    lips = lm.clone()
    lips[:, list(LIP_LANDMARKS), 1] += 1.5 / 64  # 1.5 px at the tiny model's 64 px
    assert gen_full({**tiny_batch, "source_landmarks": lips, "driving_landmarks": lm}, use_gan=False)[0]["feature_landmark_flow"] > base


def test_use_gan_false_skips_discriminator(tiny_config: ModelConfig, tiny_batch: dict[str, torch.Tensor]) -> None:
    _, _, gen_full, _ = make(tiny_config)
    assert "gan" not in gen_full(tiny_batch, use_gan=False)[0]


def test_gradients_reach_every_subnetwork(tiny_config: ModelConfig, tiny_batch: dict[str, torch.Tensor]) -> None:
    """Two G+D steps: the zero-initialised last conv blocks decoder gradients on step 1 only."""
    model, disc, gen_full, disc_full = make(tiny_config)
    opt_g = torch.optim.Adam(model.parameters(), 1e-3)
    opt_d = torch.optim.Adam(disc.parameters(), 1e-3)
    for _ in range(2):
        opt_g.zero_grad()
        losses, generated = gen_full(tiny_batch)
        sum(losses.values()).backward()
        norms = {name: grad_norm(model.get_submodule(name)) for name in SUBNETS}
        opt_g.step()
        opt_d.zero_grad()
        sum(disc_full(tiny_batch, generated).values()).backward()
        opt_d.step()
    assert all(v > 0 for v in norms.values()), norms
    assert grad_norm(disc) > 0


@pytest.mark.slow
def test_light_training_step_with_real_lpips(lpips_weights: None, tiny_batch: dict[str, torch.Tensor]) -> None:
    from codec.config import load_config
    from codec.model import dummy_inputs

    cfg = load_config("light-128")
    model, disc, gen_full, disc_full = make(cfg, pretrained_lpips=True)
    batch = dummy_inputs(cfg, batch=1)
    losses, _ = gen_full(batch)
    sum(losses.values()).backward()
    assert 0 < losses["perceptual"].item() < 2


def with_landmarks(batch: dict[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lm = torch.rand(batch["source"].shape[0], 468, 2, generator=g) * 0.4 + 0.3
    lm[:, 33, 0], lm[:, 263, 0] = 0.35, 0.65
    return {**batch, "source_landmarks": lm, "driving_landmarks": lm + 0.01}


def test_keypoint_and_mouth_terms(tiny_config: ModelConfig, tiny_batch: dict[str, torch.Tensor]) -> None:
    cfg = dataclasses.replace(tiny_config, keypoint_landmarks=[13, 14, 61, 291])
    model, _, gen_full, _ = make(cfg, LossConfig(loss_keypoint_landmarks=10.0, loss_mouth_l1=1.0, loss_mouth_perceptual=1.0))
    losses, _ = gen_full(with_landmarks(tiny_batch), use_gan=False)
    assert {"keypoint_landmarks", "mouth_l1", "mouth_perceptual"} <= set(losses)
    sum(losses.values()).backward()
    assert grad_norm(model.kp_detector) > 0


def test_mouth_dropout_holds_only_the_mouth_keypoints(tiny_config: ModelConfig) -> None:
    cfg = dataclasses.replace(tiny_config, keypoint_landmarks=[13, 14, 61, 291, 159, 145])
    model = AVFRModel(cfg)
    gen_full = GeneratorFullModel(model, None, lpips=LPIPS("alex", pretrained=False), mouth_dropout=1.0)
    kp_s, kp_d = torch.rand(2, 10, 6), torch.rand(2, 10, 6)
    out = gen_full.drop_mouth_motion(kp_s, kp_d)
    assert torch.equal(out[:, 4:], kp_d[:, 4:])  # eyes and free keypoints untouched
    shift = (kp_d[:, 4:, :2] - kp_s[:, 4:, :2]).mean(dim=1, keepdim=True)
    assert torch.allclose(out[:, :4, :2], kp_s[:, :4, :2] + shift)  # the keyframe's mouth, moved with the head
    assert torch.equal(out[:, :4, 2:], kp_s[:, :4, 2:])
    gen_full.mouth_dropout = 0.0
    assert torch.equal(gen_full.drop_mouth_motion(kp_s, kp_d), kp_d)
