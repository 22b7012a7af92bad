from pathlib import Path

import pytest

from codec.config import ModelConfig, available_presets, load_config
from codec.errors import ModelError


def test_presets_exist() -> None:
    assert {"paper-256", "light-128", "tiny"} <= set(available_presets())


@pytest.mark.parametrize("name,size", [("paper-256", 256), ("light-128", 128), ("tiny", 64)])
def test_preset_sizes(name: str, size: int) -> None:
    cfg = load_config(name)
    assert cfg.name == name
    assert cfg.image_size == size
    assert cfg.num_kp == 10 and cfg.n_mels == 80 and cfg.mel_frames == 20
    assert cfg.feature_size == size // 4


def test_paper_preset_uses_fomm_vox256_channels() -> None:
    cfg = load_config("paper-256")
    assert (cfg.kp_block_expansion, cfg.kp_max_features, cfg.kp_num_blocks) == (32, 1024, 5)
    assert (cfg.dm_block_expansion, cfg.dm_max_features, cfg.dm_num_blocks) == (64, 1024, 5)
    assert (cfg.gen_block_expansion, cfg.gen_max_features, cfg.gen_num_bottleneck_blocks) == (64, 512, 6)
    assert cfg.motion_channels == 256


def test_json_roundtrip() -> None:
    cfg = load_config("light-128")
    assert ModelConfig.from_json(cfg.to_json()) == cfg


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("image_size: 128\nnum_kp: 8\n")
    cfg = load_config(path)
    assert (cfg.name, cfg.image_size, cfg.num_kp) == ("mine", 128, 8)


@pytest.mark.parametrize(
    "text",
    [
        "bogus_key: 1\n",
        "image_size: 100\n",
        "lpips_backbone: squeeze\n",
        "[1, 2]\n",
        "keypoint_landmarks: [13, 14]\nkeypoint_slots: [3]\n",  # one slot per landmark
        "keypoint_landmarks: [13, 14]\nkeypoint_slots: [3, 3]\n",  # distinct
        "keypoint_landmarks: [13]\nkeypoint_slots: [10]\n",  # an existing keypoint
        "source_residual_padding: reflect\n",
    ],
)
def test_bad_configs_raise_model_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ModelError):
        load_config(path)


def test_unknown_preset() -> None:
    with pytest.raises(ModelError, match="presets"):
        load_config("no-such-preset")


@pytest.mark.parametrize("name", available_presets())
def test_every_preset_loads(name: str) -> None:
    assert load_config(name).name == name


def test_a_loss_setting_in_a_model_config_points_to_the_training_config(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text("image_size: 128\nloss_gan: 0.5\n")
    with pytest.raises(ModelError, match="training settings now.*losses:"):
        load_config(path)
