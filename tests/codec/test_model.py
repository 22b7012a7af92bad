from pathlib import Path

import pytest
import torch

from codec.config import ModelConfig, load_config
from codec.errors import ModelError
from codec.model import (
    AVFRModel,
    count_parameters,
    dummy_inputs,
    file_sha256,
    flops_per_network,
    load_model,
    network_modules,
    read_metadata,
    save_model,
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["light-128", "paper-256"])
def test_shapes_for_real_configs(name: str) -> None:
    cfg = load_config(name)
    model = AVFRModel(cfg).eval()
    x = dummy_inputs(cfg, batch=1)
    with torch.no_grad():
        out = model(x["source"], x["driving"], x["mel"])
    s, f = cfg.image_size, cfg.feature_size
    assert out["prediction"].shape == (1, 3, s, s)
    assert out["kp_source"].shape == out["kp_driving"].shape == (1, 10, 6)
    assert out["attention"].shape == (1, 1, f, f)
    assert out["occlusion"].shape[:2] == (1, 1)
    assert 0 <= out["prediction"].min() and out["prediction"].max() <= 1


def test_reconstruct_matches_forward(tiny_model: AVFRModel, tiny_batch: dict[str, torch.Tensor]) -> None:
    model = tiny_model.eval()
    with torch.no_grad():
        out = model(tiny_batch["source"], tiny_batch["driving"], tiny_batch["mel"])
        state = model.encode_source(tiny_batch["source"])
        pred = model.reconstruct(state, model.keypoints(tiny_batch["driving"]), tiny_batch["mel"])
    assert torch.allclose(out["prediction"], pred, atol=1e-6)


def test_one_keyframe_drives_a_batch(tiny_model: AVFRModel, tiny_batch: dict[str, torch.Tensor]) -> None:
    model = tiny_model.eval()
    with torch.no_grad():
        state = model.encode_source(tiny_batch["source"][:1])
        kp = model.keypoints(tiny_batch["driving"])
        both = model.reconstruct(state, kp, tiny_batch["mel"])
        second = model.reconstruct(state, kp[1:], tiny_batch["mel"][1:])
    assert both.shape == (2, 3, 64, 64)
    assert torch.allclose(both[1:], second, atol=1e-4)


def test_same_frame_reconstructs_itself_before_training(tiny_model: AVFRModel, tiny_batch: dict[str, torch.Tensor]) -> None:
    """Source == driving: identical keypoints, identity motion, output = keyframe."""
    model = tiny_model.eval()
    src = tiny_batch["source"] * 0.9 + 0.05
    with torch.no_grad():
        pred = model(src, src, tiny_batch["mel"])["prediction"]
    assert torch.allclose(pred, src[:, :3], atol=1e-4)


def test_save_load_fp32_exact(tiny_model: AVFRModel, tiny_batch: dict[str, torch.Tensor], tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    sha = save_model(tiny_model, path, extra_metadata={"train_step": 7})
    assert sha == file_sha256(path) and len(sha) == 64
    loaded = load_model(path)
    assert loaded.weights_sha256 == sha
    assert loaded.config == tiny_model.config
    assert read_metadata(path)["train_step"] == "7"
    for (k, a), (_, b) in zip(tiny_model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    tiny_model.to(memory_format=torch.channels_last).eval()  # load_model's layout: same numbers, other summation order
    with torch.no_grad():
        a = tiny_model(tiny_batch["source"], tiny_batch["driving"], tiny_batch["mel"])["prediction"]
        b = loaded(tiny_batch["source"], tiny_batch["driving"], tiny_batch["mel"])["prediction"]
    assert torch.equal(a, b)


def test_save_load_fp16_close(tiny_model: AVFRModel, tiny_batch: dict[str, torch.Tensor], tmp_path: Path) -> None:
    torch.nn.init.normal_(tiny_model.generator.final.weight, std=0.05)  # let the decoder matter
    p32, p16 = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_model(tiny_model, p32)
    save_model(tiny_model, p16, dtype=torch.float16)
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    loaded = load_model(p16)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    tiny_model.to(memory_format=torch.channels_last).eval()  # load_model's layout: same numbers, other summation order
    with torch.no_grad():
        a = tiny_model(tiny_batch["source"], tiny_batch["driving"], tiny_batch["mel"])["prediction"]
        b = loaded(tiny_batch["source"], tiny_batch["driving"], tiny_batch["mel"])["prediction"]
    assert (a - b).abs().max() < 2e-2


def assert_one_line_model_error(exc: pytest.ExceptionInfo[ModelError]) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 300


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as exc:
        load_model(tmp_path / "nope.safetensors")
    assert_one_line_model_error(exc)


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip_header"])
def test_corrupt_file(tiny_model: AVFRModel, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path)
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"this is not a model" * 10)
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as exc:
        load_model(path)
    assert_one_line_model_error(exc)


def test_foreign_safetensors_file(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ModelError, match="not an avfr model"):
        load_model(path)


def test_mismatched_tensors(tiny_model: AVFRModel, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path)
    meta = read_metadata(path)
    tensors = load_file(str(path))
    tensors.pop("generator.final.weight")
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ModelError, match="does not match"):
        load_model(path)


def test_cost_helpers(tiny_model: AVFRModel, tiny_config: ModelConfig) -> None:
    assert count_parameters(tiny_model) == sum(p.numel() for p in tiny_model.parameters())
    flops = flops_per_network(tiny_model)
    assert set(flops) >= {"kp_detector", "dense_motion", "audio_encoder", "attention_encoder", "source_encoders", "decoder"}
    assert all(v > 0 for v in flops.values())
    per_frame = flops["dense_motion"] + flops["audio_encoder"] + flops["attention_encoder"] + flops["decoder"]
    assert flops["receiver_per_frame"] == pytest.approx(per_frame, rel=0.01)
    assert flops["keyframe"] == pytest.approx(flops["kp_detector"] + flops["source_encoders"], rel=0.05)
    parts = network_modules(tiny_model)
    assert sum(count_parameters(m) for ms in parts.values() for m in ms) == count_parameters(tiny_model)


def test_a_saved_model_carries_the_architecture_only(tiny_model: AVFRModel, tmp_path: Path) -> None:
    import json

    from codec.config import RETIRED_LOSS_KEYS

    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path)
    assert not RETIRED_LOSS_KEYS & set(json.loads(read_metadata(path)["config"]))


def test_a_model_file_with_the_old_loss_settings_still_loads(tiny_model: AVFRModel, tmp_path: Path) -> None:
    """Model files written while ModelConfig held the loss weights carry them in their config."""
    import json

    from safetensors.torch import load_file, save_file

    path = tmp_path / "old.safetensors"
    save_model(tiny_model, path)
    meta = read_metadata(path)
    old = {**json.loads(meta["config"]), "lpips_backbone": "alex", "gan_mode": "ls", "loss_l1": 1.0, "loss_landmark_flow": 10.0,
           "landmark_flow_tolerance_px": 2.0, "equivariance_points_tps": 5}  # fmt: skip
    save_file(load_file(str(path)), str(path), metadata={**meta, "config": json.dumps(old)})
    assert load_model(path).config == tiny_model.config


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "codec" / "weights").glob("*.safetensors")), ids=lambda p: p.name)
def test_every_committed_model_file_loads(path: Path) -> None:
    model = load_model(path)
    assert model.weights_sha256 == file_sha256(path)
