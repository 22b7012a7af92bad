"""The loss weights and the other settings only training reads (first-order-model's
``train_params``: its ``loss_weights`` and ``transform_params``).

They are the ``losses:`` section of a training config (``codec/configs/train/*.yaml``,
``TrainConfig.losses``), not part of the model: a shipped model carries its architecture
(``codec.config.ModelConfig``) and nothing about how it was trained. Each weight keeps the name
it had in ``ModelConfig``, so ``avfr train --override loss_gan=0`` and configs written before
the move (``model_overrides: {loss_gan: 0}``) mean what they meant (:func:`move_retired_overrides`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from codec.config import RETIRED_LOSS_KEYS
from codec.errors import AvfrError


@dataclass
class LossConfig:
    """Weights of the generator's loss terms (a zero weight skips its term) and their settings."""

    lpips_backbone: str = "alex"  # "alex" or "vgg"
    gan_mode: str = "ls"  # "ls" (least squares, FOMM) or "bce" (paper eq. 3-4)
    loss_l1: float = 1.0
    loss_perceptual: float = 1.0
    loss_equivariance_value: float = 10.0
    loss_equivariance_jacobian: float = 10.0
    loss_gan: float = 1.0
    loss_feature_matching: float = 0.0
    # ours: pull the deformation onto the MediaPipe landmark correspondence (losses/landmark_flow.py)
    loss_landmark_flow: float = 0.0
    landmark_flow_tolerance_px: float = 0.0  # landmark jitter below this is not fitted
    # ours: the same term again on the lips and eye contours alone (face_mesh_topology.LIP_LANDMARKS,
    # EYE_LANDMARKS) with a smaller tolerance. In the mean over all 468 landmarks these 72 are a
    # sixth of the term, and an opening of a few pixels sits mostly inside the 2 px tolerance: the
    # warped keyframe's mouth opened half as far as the real one (amplitude 0.46 at step 8500).
    loss_feature_landmark_flow: float = 0.0
    feature_landmark_flow_tolerance_px: float = 0.5
    # ours: keypoint i is pulled onto MediaPipe landmark ModelConfig.keypoint_landmarks[i]
    # (losses/keypoint_landmarks.py)
    loss_keypoint_landmarks: float = 0.0
    # ours: L1 + LPIPS again on the mouth region, cut out and enlarged (losses/mouth.py)
    loss_mouth_l1: float = 0.0
    loss_mouth_perceptual: float = 0.0
    # the random transforms of the equivariance loss (FOMM's transform_params)
    equivariance_sigma_affine: float = 0.05
    equivariance_sigma_tps: float = 0.005
    equivariance_points_tps: int = 5

    def __post_init__(self) -> None:
        if self.lpips_backbone not in ("alex", "vgg"):
            raise AvfrError(f"lpips_backbone must be 'alex' or 'vgg', not {self.lpips_backbone!r}")
        if self.gan_mode not in ("ls", "bce"):
            raise AvfrError(f"gan_mode must be 'ls' or 'bce', not {self.gan_mode!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "LossConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise AvfrError(f"unknown loss setting(s) {sorted(unknown)}: the settings are {sorted(known)}")
        return cls(**values)


def move_retired_overrides(values: dict[str, Any]) -> dict[str, Any]:
    """A training config as written before the loss settings left ``ModelConfig`` (a run
    folder's train_config.yaml, a snapshot's or checkpoint's metadata): its loss settings sit
    in ``model_overrides``. They move to ``losses``, where a value given there wins."""
    overrides = dict(values.get("model_overrides") or {})
    moved = {key: overrides.pop(key) for key in list(overrides) if key in RETIRED_LOSS_KEYS}
    if not moved:
        return values
    return {**values, "model_overrides": overrides, "losses": {**moved, **(values.get("losses") or {})}}
