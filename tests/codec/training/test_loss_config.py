"""Loss settings live in the training config; configs written when the model config held them still mean the same."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import pytest
import yaml

from codec.config import RETIRED_LOSS_KEYS
from codec.errors import AvfrError
from codec.training.loss_config import LossConfig, move_retired_overrides
from codec.training.snapshot import read_snapshot
from codec.training.train import CONFIG_DIR, TrainConfig, load_train_config

REPO = Path(__file__).resolve().parents[3]

# ModelConfig's loss defaults before they moved (commit f5a770b): configs written then rely on them.
OLD_DEFAULTS = {
    "lpips_backbone": "alex", "gan_mode": "ls", "loss_l1": 1.0, "loss_perceptual": 1.0, "loss_equivariance_value": 10.0,
    "loss_equivariance_jacobian": 10.0, "loss_gan": 1.0, "loss_feature_matching": 0.0, "loss_landmark_flow": 0.0,
    "landmark_flow_tolerance_px": 0.0, "loss_keypoint_landmarks": 0.0, "loss_mouth_l1": 0.0, "loss_mouth_perceptual": 0.0,
    "equivariance_sigma_affine": 0.05, "equivariance_sigma_tps": 0.005, "equivariance_points_tps": 5,
}  # fmt: skip


def test_every_retired_setting_has_its_old_default_in_the_loss_config() -> None:
    assert set(OLD_DEFAULTS) == RETIRED_LOSS_KEYS <= {f.name for f in fields(LossConfig)}
    assert {k: v for k, v in asdict(LossConfig()).items() if k in OLD_DEFAULTS} == OLD_DEFAULTS


@pytest.mark.parametrize("values", [{"lpips_backbone": "squeeze"}, {"gan_mode": "wgan"}, {"num_kp": 10}])
def test_bad_loss_settings_raise(values: dict) -> None:
    with pytest.raises(AvfrError):
        LossConfig.from_dict(values)


def test_an_old_layout_config_moves_its_loss_settings() -> None:
    old = {"model": "tiny", "model_overrides": {"image_size": 128, "loss_gan": 0.5, "landmark_flow_tolerance_px": 2.0}}
    cfg = TrainConfig.from_dict(old)
    assert cfg.model_overrides == {"image_size": 128}
    assert cfg.losses == LossConfig(loss_gan=0.5, landmark_flow_tolerance_px=2.0)
    both = {**old, "losses": {"loss_gan": 0.25}}
    assert move_retired_overrides(both)["losses"] == {"loss_gan": 0.25, "landmark_flow_tolerance_px": 2.0}


def test_a_written_config_reads_back() -> None:
    """train_config.yaml in a run folder and the snapshot's metadata: asdict of the config."""
    cfg = load_train_config("light-256")
    assert TrainConfig.from_dict(yaml.safe_load(yaml.safe_dump(json.loads(json.dumps(asdict(cfg), default=str))))) == cfg


def test_an_override_goes_where_its_key_lives() -> None:
    cfg = load_train_config("tiny")
    cfg.override("loss_gan", 0)
    cfg.override("norm", "group")
    assert cfg.losses.loss_gan == 0 and cfg.model_overrides == {"image_size": 128, "norm": "group"}
    with pytest.raises(AvfrError):
        cfg.override("gan_mode", "wgan")


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_training_configs_keep_loss_settings_under_losses(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    assert not RETIRED_LOSS_KEYS & set(raw.get("model_overrides") or {})
    load_train_config(str(path))


def test_the_committed_snapshot_resumes_with_the_losses_it_was_trained_with() -> None:
    cfg = load_train_config("light-256")
    _, meta = read_snapshot(REPO / cfg.snapshot)
    trained = TrainConfig.from_dict(json.loads(meta["train_config"]))
    assert (trained.model, trained.model_overrides, trained.losses) == (cfg.model, cfg.model_overrides, cfg.losses)
