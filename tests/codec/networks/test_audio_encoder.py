import torch

from codec.config import ModelConfig, load_config
from codec.networks.audio_encoder import AttentionEncoder, AudioEncoder


def test_enc_aud_shape(tiny_config: ModelConfig) -> None:
    out = AudioEncoder(tiny_config)(torch.randn(3, 1, 80, 20))
    assert out.shape == (3, tiny_config.audio_channels, 16, 16)


def test_enc_aud_shape_paper() -> None:
    cfg = load_config("paper-256")
    assert AudioEncoder(cfg)(torch.randn(1, 1, 80, 20)).shape == (1, 256, 64, 64)


def test_attention_is_eq2(tiny_config: ModelConfig) -> None:
    enc = AttentionEncoder(tiny_config).eval()
    mel = torch.randn(2, 1, 80, 20)
    motion = torch.randn(2, tiny_config.motion_channels, 16, 16)
    att = enc(mel, motion)
    assert att.shape == (2, 1, 16, 16)
    q = enc.query(mel)
    expected = torch.sigmoid((q[:, :, None, None] * motion).sum(1, keepdim=True) / tiny_config.motion_channels**0.5)
    assert torch.allclose(att, expected, atol=1e-6)


def test_silence_window_is_just_a_constant_input(tiny_config: ModelConfig) -> None:
    from codec.audio_features import silence_window

    silence = torch.from_numpy(silence_window())[None, None]
    assert silence.shape == (1, 1, 80, 20)
    assert torch.isfinite(AudioEncoder(tiny_config).eval()(silence)).all()
