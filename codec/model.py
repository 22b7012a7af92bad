"""AVFRModel: the networks a sender and receiver share, and their safetensors file format.

The split into ``encode_source`` / ``reconstruct`` is the codec's: a receiver encodes the
keyframe once (keypoints, motion and identity features) and then, per frame, pays only for
dense motion, audio encoders and the decoder. ``forward`` chains both for training.

File format: safetensors only (loading never unpickles), with the ``ModelConfig`` as JSON
in the metadata, so a file is self-describing; the sha256 of the file identifies the model
in the stream header.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from codec.audio_features import silence_window
from codec.config import ModelConfig
from codec.errors import ModelError
from codec.networks.audio_encoder import AttentionEncoder, AudioEncoder
from codec.networks.blocks import apply_norm
from codec.networks.dense_motion import DenseMotion
from codec.networks.generator import Generator
from codec.networks.keypoint_detector import KeypointDetector

FORMAT_NAME = "avfr-model"
FORMAT_VERSION = "1"


@dataclass
class SourceState:
    """What a receiver keeps per keyframe: source keypoints and encoder features."""

    keypoints: torch.Tensor  # [B, K, 6]
    source_small: torch.Tensor  # 5-channel source at the dense-motion resolution
    encoded: dict[str, Any] = field(default_factory=dict)  # generator encoders' outputs

    @property
    def batch_size(self) -> int:
        return int(self.keypoints.shape[0])

    def expand(self, batch: int) -> "SourceState":
        """Broadcast a single keyframe over ``batch`` driving frames."""
        if batch == self.batch_size:
            return self
        if self.batch_size != 1:
            raise ValueError(f"source batch {self.batch_size} cannot drive batch {batch}")

        def ex(t: torch.Tensor) -> torch.Tensor:
            return t.expand(batch, *t.shape[1:])

        encoded = {k: [ex(t) for t in v] if isinstance(v, list) else ex(v) for k, v in self.encoded.items()}
        return SourceState(ex(self.keypoints), ex(self.source_small), encoded)


class AVFRModel(nn.Module):
    """Keypoint detector, dense motion, audio + attention encoders and generator (no D)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.kp_detector = KeypointDetector(cfg)
        self.dense_motion = DenseMotion(cfg)
        self.audio_encoder = AudioEncoder(cfg)
        self.attention_encoder = AttentionEncoder(cfg)
        self.generator = Generator(cfg)
        apply_norm(self, cfg.norm)
        self.weights_sha256: str | None = None

    def keypoints(self, x5: torch.Tensor) -> torch.Tensor:
        """``[B, 5, H, W]`` -> ``[B, K, 6]``."""
        return self.kp_detector(x5)

    def encode_source(self, source5: torch.Tensor) -> SourceState:
        return SourceState(
            keypoints=self.kp_detector(source5),
            source_small=self.dense_motion.downscale(source5),
            encoded=self.generator.encode(source5),
        )

    def reconstruct_all(self, state: SourceState, kp_driving: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate of one reconstruction (the training losses and plots want them)."""
        state = state.expand(kp_driving.shape[0])
        motion = self.dense_motion(state.source_small, state.keypoints, kp_driving)
        deformation, occlusion = motion["deformation"], motion["occlusion"]
        enc_motion = self.generator.motion_features(state.encoded, deformation, occlusion)
        attention = self.attention_encoder(mel, enc_motion)
        enc_aud = self.audio_encoder(mel)
        prediction = self.generator(state.encoded, enc_motion, enc_aud, attention, deformation, occlusion, kp_driving)
        return {
            "prediction": prediction,
            "deformation": deformation,
            "occlusion": occlusion,
            "mask": motion["mask"],
            "attention": attention,
        }

    def reconstruct(self, state: SourceState, kp_driving: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in [0, 1] from cached source state, driving keypoints and mel window."""
        return self.reconstruct_all(state, kp_driving, mel)["prediction"]

    def forward(self, source5: torch.Tensor, driving5: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        state = self.encode_source(source5)
        kp_driving = self.kp_detector(driving5)
        out = self.reconstruct_all(state, kp_driving, mel)
        out["kp_source"] = state.keypoints
        out["kp_driving"] = kp_driving
        return out


def pick_device(name: str) -> torch.device:
    """``auto`` (CUDA if there is one), ``cpu`` or ``cuda[:N]``; CUDA asked for where there is
    none is the user's one-line error, not a traceback from deep in torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but no CUDA device is available: use --device cpu")
    return torch.device(name)


def silent_mel(device: str | torch.device = "cpu") -> torch.Tensor:
    """``[1, 1, n_mels, T]``: the audio window of silence, as the networks take it."""
    return torch.from_numpy(silence_window()).float()[None, None].to(device)


@torch.no_grad()
def warm_up(model: AVFRModel, source5: torch.Tensor | None = None) -> None:
    """One keyframe encoding and one reconstruction with silence (on ``source5``, else zeros),
    so that a call's first real frame does not pay for the networks' set-up."""
    if source5 is None:
        size = model.config.image_size
        source5 = torch.zeros(1, 5, size, size)
    state = model.encode_source(source5)
    model.reconstruct(state, state.keypoints, silent_mel(source5.device))


# --------------------------------------------------------------------------- file format


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(
    model: AVFRModel,
    path: str | Path,
    extra_metadata: dict[str, str] | None = None,
    dtype: torch.dtype = torch.float32,
) -> str:
    """Write ``model`` as safetensors (``dtype`` float16 halves the file); returns its sha256."""
    from safetensors.torch import save_file

    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous()
    metadata = {str(k): str(v) for k, v in (extra_metadata or {}).items()}
    metadata.update({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "config": model.config.to_json()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    model.weights_sha256 = file_sha256(path)
    return model.weights_sha256


def read_metadata(path: str | Path) -> dict[str, str]:
    """The file's metadata (config JSON, format, anything passed as ``extra_metadata``)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} not found; pass --model with a trained .safetensors file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as exc:  # safetensors raises several types for a damaged header
        raise ModelError(f"model file {path} is not a readable safetensors file ({exc.__class__.__name__}); re-download or retrain it") from exc
    if metadata.get("format") != FORMAT_NAME or "config" not in metadata:
        raise ModelError(f"{path} is not an avfr model file (no avfr metadata); pass an avfr .safetensors model")
    return metadata


def load_model(path: str | Path, device: str | torch.device = "cpu") -> AVFRModel:
    """Rebuild the model from the file's config; float32 weights, eval mode, ``weights_sha256`` set.

    The weights are laid out channels-last: oneDNN's convolutions run ~27% faster that way on
    the CPU at 256 px (light-256 render, one thread: 73 -> 53 ms), outputs equal to 1e-4."""
    from safetensors.torch import load_file

    path = Path(path)
    metadata = read_metadata(path)
    try:
        cfg = ModelConfig.from_json(metadata["config"])
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"model file {path} has a damaged config ({exc.__class__.__name__}); re-download or retrain it") from exc
    try:
        tensors = load_file(str(path), device=str(device))
    except Exception as exc:
        raise ModelError(f"model file {path} is damaged ({exc.__class__.__name__}); re-download or retrain it") from exc
    model = AVFRModel(cfg).to(device)
    reference = model.state_dict()
    tensors = {k: v.to(reference[k].dtype) if k in reference else v for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"model file {path} does not match its config ({len(missing)} missing, {len(unexpected)} unexpected tensors); use a file saved by this avfr version"
        )
    model.weights_sha256 = file_sha256(path)
    return model.to(memory_format=torch.channels_last).eval()


# --------------------------------------------------------------------------- cost


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs (2 x multiply-adds) of ``fn()`` as counted by torch's FlopCounterMode.

    Convolutions, linear layers and matmuls are counted; grid_sample, interpolation,
    normalisation and activations are not, so this slightly under-counts the motion path.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def dummy_inputs(cfg: ModelConfig, batch: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    size = (batch, cfg.in_channels, cfg.image_size, cfg.image_size)
    return {
        "source": torch.rand(size, generator=g),
        "driving": torch.rand(size, generator=g),
        "mel": torch.rand(batch, 1, cfg.n_mels, cfg.mel_frames, generator=g) * 2 - 1,  # audio_features: [-1, 1]
    }


def network_calls(model: AVFRModel, inputs: dict[str, torch.Tensor]) -> dict[str, Callable[[], Any]]:
    """One closure per network, run as in the codec, plus the two totals that matter:
    ``keyframe`` (the receiver's once-per-keyframe ``encode_source``) and
    ``receiver_per_frame`` (``reconstruct``: dense motion, audio, attention, decoder). The
    sender's per-frame cost is ``kp_detector``."""
    with torch.no_grad():
        state = model.encode_source(inputs["source"])
        kp_d = model.keypoints(inputs["driving"])
        motion = model.dense_motion(state.source_small, state.keypoints, kp_d)
        deformation, occlusion = motion["deformation"], motion["occlusion"]
        enc_motion = model.generator.motion_features(state.encoded, deformation, occlusion)
        enc_aud = model.audio_encoder(inputs["mel"])
        attention = model.attention_encoder(inputs["mel"], enc_motion)
    gen, mel = model.generator, inputs["mel"]

    def decoder() -> torch.Tensor:
        warped = gen.motion_features(state.encoded, deformation, occlusion)
        return gen(state.encoded, warped, enc_aud, attention, deformation, occlusion, kp_d)

    return {
        "kp_detector": lambda: model.keypoints(inputs["driving"]),
        "dense_motion": lambda: model.dense_motion(state.source_small, state.keypoints, kp_d),
        "audio_encoder": lambda: model.audio_encoder(mel),
        "attention_encoder": lambda: model.attention_encoder(mel, enc_motion),
        "source_encoders": lambda: gen.encode(inputs["source"]),
        "decoder": decoder,
        "keyframe": lambda: model.encode_source(inputs["source"]),
        "receiver_per_frame": lambda: model.reconstruct(state, kp_d, mel),
    }


def network_modules(model: AVFRModel) -> dict[str, list[nn.Module]]:
    """The modules behind each entry of :func:`network_calls` (for parameter counts)."""
    gen = model.generator
    decoder = [m for name, m in gen.named_children() if name not in ("motion_encoder", "identity_encoder")]
    return {
        "kp_detector": [model.kp_detector],
        "dense_motion": [model.dense_motion],
        "audio_encoder": [model.audio_encoder],
        "attention_encoder": [model.attention_encoder],
        "source_encoders": [gen.motion_encoder, gen.identity_encoder],
        "decoder": decoder,
    }


def flops_per_network(model: AVFRModel, batch: int = 1) -> dict[str, int]:
    """Forward FLOPs per network at ``batch`` (inference, eval mode)."""
    was_training = model.training
    model.eval()
    try:
        calls = network_calls(model, dummy_inputs(model.config, batch))
        return {name: count_flops(fn) for name, fn in calls.items()}
    finally:
        model.train(was_training)
