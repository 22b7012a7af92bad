"""Loss wrappers in FOMM's style: one module computes every generator loss, one the D loss.

Keeping the losses inside modules (as FOMM's GeneratorFullModel / DiscriminatorFullModel)
keeps a trainer a short loop::

    losses, generated = gen_full(batch)           # dict of weighted loss terms, the model's outputs
    sum(losses.values()).backward(); opt_g.step()
    d = disc_full(batch, generated)               # uses the prediction, detached
    sum(d.values()).backward(); opt_d.step()

The G backward also leaves gradients in the discriminator's parameters (the adversarial
term flows through D): zero D's gradients before its own backward, as FOMM does.

Generator loss (paper eq. 4): L1 + LPIPS + equivariance (value + Jacobian) + adversarial,
plus FOMM's feature matching and, when the batch carries landmarks, our landmark flow,
keypoint-on-landmark and mouth-region terms, when their weights are non-zero; every weight comes from the
training config's :class:`LossConfig`, the sizes from the model's own config. The dict holds only
the weighted terms, so their sum is the total. A term whose weight is zero is not computed, and
``use_gan=False`` skips D entirely (GAN warm-up).
"""

from __future__ import annotations

import torch
from torch import nn

from codec.face_mesh_topology import EYE_LANDMARKS, LIP_LANDMARKS
from codec.losses.equivariance import RandomTransform, equivariance_losses
from codec.losses.gan import discriminator_loss, feature_matching_loss, generator_adversarial_loss
from codec.losses.keypoint_landmarks import keypoint_landmark_loss, mouth_keypoints
from codec.losses.landmark_flow import landmark_flow_loss
from codec.losses.lpips import LPIPS
from codec.losses.mouth import crop_mouth
from codec.model import AVFRModel
from codec.motion import head_moved_mouth
from codec.networks.discriminator import Discriminator
from codec.training.loss_config import LossConfig

FEATURE_LANDMARKS = LIP_LANDMARKS + EYE_LANDMARKS  # what a talking face moves most, a few pixels at a time

Batch = dict[str, torch.Tensor]


def target_rgb(batch: Batch, channels: int) -> torch.Tensor:
    """The driving frame's RGB: what the generator must reproduce."""
    return batch["driving"][:, :channels]


class GeneratorFullModel(nn.Module):
    """``forward(batch) -> (losses, outputs)``, as FOMM's: ``losses`` holds {"l1", "perceptual",
    "equivariance_value", "equivariance_jacobian", "gan", "feature_matching", "landmark_flow", "feature_landmark_flow",
    "keypoint_landmarks", "mouth_l1", "mouth_perceptual"} (weighted; absent when weight 0),
    ``outputs`` the model's forward dict ("prediction", keypoints, deformation, ...)."""

    def __init__(
        self,
        model: AVFRModel,
        discriminator: Discriminator | None,
        losses: LossConfig | None = None,
        lpips: LPIPS | None = None,
        mouth_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.cfg = model.config
        self.weights = losses or LossConfig()
        self.discriminator = discriminator
        if lpips is None and (self.weights.loss_perceptual > 0 or self.weights.loss_mouth_perceptual > 0):
            lpips = LPIPS(self.weights.lpips_backbone)
        self.lpips = lpips
        self.mouth_dropout = mouth_dropout
        self.mouth_kp = mouth_keypoints(self.cfg.keypoint_landmarks, self.cfg.landmark_keypoints)

    def drop_mouth_motion(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """Training pairs the motion cannot explain (ours): in a random ``mouth_dropout`` share of
        the batch, the mouth keypoints say "the keyframe's mouth, moved with the head" (the
        source's mouth keypoints shifted by the mean motion of the other keypoints), while the
        target still shows the real mouth. Only the speech can tell the generator what the
        mouth does there; it is also what a receiver faces when motion packets are lost."""
        if self.mouth_dropout <= 0 or not self.mouth_kp:
            return kp_driving
        held = kp_source[:, self.mouth_kp].clone()
        held[..., :2] = head_moved_mouth(kp_source, kp_driving, self.mouth_kp)
        chosen = torch.rand(kp_driving.shape[0], device=kp_driving.device) < self.mouth_dropout
        out = kp_driving.clone()
        out[:, self.mouth_kp] = torch.where(chosen[:, None, None], held, kp_driving[:, self.mouth_kp])
        return out

    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The model's forward pass, with the mouth motion dropped where chosen."""
        if self.mouth_dropout <= 0 or not self.model.training:
            return self.model(batch["source"], batch["driving"], batch["mel"])
        state = self.model.encode_source(batch["source"])
        kp_driving = self.model.keypoints(batch["driving"])
        out = self.model.reconstruct_all(state, self.drop_mouth_motion(state.keypoints, kp_driving), batch["mel"])
        out["kp_source"], out["kp_driving"] = state.keypoints, kp_driving
        return out

    def mouth(self, pred: torch.Tensor, real: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        w, losses = self.weights, {}
        pred_m, real_m = crop_mouth(pred, landmarks), crop_mouth(real, landmarks)
        if w.loss_mouth_l1 > 0:
            losses["mouth_l1"] = w.loss_mouth_l1 * (pred_m - real_m).abs().mean()
        if w.loss_mouth_perceptual > 0 and self.lpips is not None:
            losses["mouth_perceptual"] = w.loss_mouth_perceptual * self.lpips(pred_m, real_m).mean()
        return losses

    def keypoint_landmarks(self, out: dict[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        cfg = self.cfg
        both = torch.cat([out["kp_source"], out["kp_driving"]])
        landmarks = torch.cat([batch["source_landmarks"], batch["driving_landmarks"]])
        return self.weights.loss_keypoint_landmarks * keypoint_landmark_loss(both, landmarks, cfg.keypoint_landmarks, cfg.image_size, cfg.landmark_keypoints)

    def equivariance(self, batch: Batch, kp_driving: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weights
        driving = batch["driving"]
        transform = RandomTransform.random(driving.shape[0], w.equivariance_sigma_affine, w.equivariance_sigma_tps, w.equivariance_points_tps, driving.device)
        return equivariance_losses(self.model.keypoints, driving, kp_driving, transform)

    def adversarial(self, pred: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        w, losses = self.weights, {}
        fake = self.discriminator(pred)
        if w.loss_gan > 0:
            losses["gan"] = w.loss_gan * generator_adversarial_loss(fake, w.gan_mode)
        if w.loss_feature_matching > 0:
            with torch.no_grad():
                real_scores = self.discriminator(real)
            losses["feature_matching"] = w.loss_feature_matching * feature_matching_loss(real_scores, fake)
        return losses

    def forward(self, batch: Batch, use_gan: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        cfg, w = self.cfg, self.weights
        out = self.predict(batch)
        pred, real = out["prediction"], target_rgb(batch, cfg.image_channels)
        losses: dict[str, torch.Tensor] = {"l1": w.loss_l1 * (pred - real).abs().mean()}
        if self.lpips is not None and w.loss_perceptual > 0:
            losses["perceptual"] = w.loss_perceptual * self.lpips(pred, real).mean()
        if w.loss_equivariance_value > 0 or w.loss_equivariance_jacobian > 0:
            value, jac = self.equivariance(batch, out["kp_driving"])
            losses["equivariance_value"] = w.loss_equivariance_value * value
            losses["equivariance_jacobian"] = w.loss_equivariance_jacobian * jac
        if w.loss_landmark_flow > 0 and "driving_landmarks" in batch:
            flow = landmark_flow_loss(out["deformation"], batch["source_landmarks"], batch["driving_landmarks"], cfg.image_size, w.landmark_flow_tolerance_px)
            losses["landmark_flow"] = w.loss_landmark_flow * flow
        if w.loss_feature_landmark_flow > 0 and "driving_landmarks" in batch:
            idx = list(FEATURE_LANDMARKS)
            flow = landmark_flow_loss(out["deformation"], batch["source_landmarks"][:, idx], batch["driving_landmarks"][:, idx], cfg.image_size,
                                      w.feature_landmark_flow_tolerance_px)  # fmt: skip
            losses["feature_landmark_flow"] = w.loss_feature_landmark_flow * flow
        if w.loss_keypoint_landmarks > 0 and cfg.keypoint_landmarks and "driving_landmarks" in batch:
            losses["keypoint_landmarks"] = self.keypoint_landmarks(out, batch)
        if (w.loss_mouth_l1 > 0 or w.loss_mouth_perceptual > 0) and "driving_landmarks" in batch:
            losses.update(self.mouth(pred, real, batch["driving_landmarks"]))
        if use_gan and self.discriminator is not None and (w.loss_gan > 0 or w.loss_feature_matching > 0):
            losses.update(self.adversarial(pred, real))
        return losses, out


class DiscriminatorFullModel(nn.Module):
    """``forward(batch, generated) -> {"disc": weighted loss}`` (paper eq. 3).

    ``generated`` is the prediction tensor or the generator's output dict; it is detached here.
    """

    def __init__(self, discriminator: Discriminator, losses: LossConfig | None = None) -> None:
        super().__init__()
        self.weights = losses or LossConfig()
        self.discriminator = discriminator

    def forward(self, batch: Batch, generated: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pred = generated["prediction"] if isinstance(generated, dict) else generated
        real = target_rgb(batch, pred.shape[1])
        loss = discriminator_loss(self.discriminator(real), self.discriminator(pred.detach()), self.weights.gan_mode)
        return {"disc": self.weights.loss_gan * loss}
