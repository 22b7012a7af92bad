"""Model configuration: every size of the AVFR model's networks in one dataclass.

Why one flat dataclass: the whole config travels as JSON inside each safetensors model file,
so a receiver rebuilds exactly the network the sender trained; a flat record of plain values
is trivial to serialise and diff. Presets live as YAML in ``codec/configs/``.

As in first-order-model (``model_params`` vs ``train_params``), a model carries its
architecture only: loss weights and the other settings only training reads live in the
training config (``codec.training.loss_config.LossConfig``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codec.errors import ModelError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
MOUTH_ELLIPSE_LANDMARKS = (13, 14, 61, 291)  # inner lips, mouth corners: the keypoints the mouth ellipse is placed by
# The settings ModelConfig held until they moved to the training config (LossConfig): model
# files and training configs written before carry them, and their readers drop or move them.
RETIRED_LOSS_KEYS = frozenset({
    "lpips_backbone", "gan_mode", "loss_l1", "loss_perceptual", "loss_equivariance_value", "loss_equivariance_jacobian",
    "loss_gan", "loss_feature_matching", "loss_landmark_flow", "landmark_flow_tolerance_px", "loss_keypoint_landmarks",
    "loss_mouth_l1", "loss_mouth_perceptual", "equivariance_sigma_affine", "equivariance_sigma_tps", "equivariance_points_tps",
})  # fmt: skip


@dataclass
class ModelConfig:
    """Sizes of every network (the discriminator's too, as FOMM's ``model_params``).

    Defaults are the paper's (256x256, K=10, FOMM vox-256 channel counts) where the paper
    gives them; FOMM's vox-256.yaml fills in what the paper leaves out.
    """

    name: str = "paper-256"
    image_size: int = 256
    # Side at which the generator's UNet runs; 0 = image_size. Below image_size, an output
    # stage lifts the core's picture to image_size with detail warped from the full-size
    # keyframe (generator.DetailStage): the 256-px output at the cost of a 128-px core.
    core_size: int = 0
    in_channels: int = 5  # RGB + mesh drawing + face mask (ARCHITECTURE.md)
    image_channels: int = 3
    num_kp: int = 10

    # keypoint detector (FOMM vox-256: block_expansion 32, max_features 1024, 5 blocks)
    kp_block_expansion: int = 32
    kp_max_features: int = 1024
    kp_num_blocks: int = 5
    kp_scale_factor: float = 0.25
    kp_temperature: float = 0.1
    kp_estimate_jacobian: bool = True
    # ours: keypoint i sits on MediaPipe landmark keypoint_landmarks[i] (training pulls it there,
    # losses/keypoint_landmarks.py), so that lips and eyelids are carried by the stream's
    # keypoints; the rest stay free. What the model's keypoints mean, so it ships with the model.
    keypoint_landmarks: list[int] = field(default_factory=list)
    # which keypoints carry them (default: the first len(keypoint_landmarks)); a warm start picks
    # the keypoints that already sit nearest, so that the fewest learned ones have to move
    keypoint_slots: list[int] = field(default_factory=list)

    # dense motion (FOMM vox-256: block_expansion 64, max_features 1024, 5 blocks)
    dm_block_expansion: int = 64
    dm_max_features: int = 1024
    dm_num_blocks: int = 5
    dm_scale_factor: float = 0.25
    dm_kp_variance: float = 0.01
    dm_background_bias: float = 4.0  # initial logit of the identity motion (0 = FOMM's init)

    # generator (FOMM vox-256: block_expansion 64, max_features 512, 2 down, 6 bottleneck)
    gen_block_expansion: int = 64
    gen_max_features: int = 512
    gen_num_down_blocks: int = 2
    gen_num_bottleneck_blocks: int = 6
    spade_hidden: int = 128
    spade_norm: str = "batch"  # "batch" (SPADE paper) or "instance"
    # Normalisation of the plain conv blocks: "batch" (FOMM) or "group" (one group, i.e. per
    # sample: results independent of how a batch is split, e.g. across DDP processes).
    norm: str = "batch"
    gen_warp_skips: bool = True  # also feed warped identity skips to the decoder
    gen_source_residual: bool = True  # output = sigmoid(logit(warped source) + decoder)
    # where the warp reads outside the keyframe: "zeros" gives black, which the decoder must undo
    # with a large residual along a sharp edge (at 256 px a visible box); "border" repeats the edge
    source_residual_padding: str = "zeros"
    detail_channels: int = 16  # channels of the output stage at image_size (when core_size < image_size)
    # ours: the mouth is painted by the decoder, not copied from the keyframe: inside an ellipse
    # around the driving lip keypoints the residual base is the warped keyframe blurred, so the
    # keyframe's open or closed mouth does not survive and the lip keypoints and the speech must
    # tell the decoder what the mouth does (generator.mouth_mask). Needs the lip landmarks
    # 13, 14, 61 and 291 among keypoint_landmarks.
    gen_mouth_inpaint: bool = False
    # ours: Enc_aud only at the mouth. Its map comes from one audio vector with a fixed layout,
    # so the speech acts on the whole picture (light-256: as much away from the mouth as on
    # it); multiplied by the mouth ellipse at feature size, it can only change the mouth.
    # Needs the same lip landmarks as gen_mouth_inpaint.
    gen_audio_at_mouth: bool = False

    # audio: 80 mels x 20 frames (200 ms at 10 ms hop), see ARCHITECTURE.md
    n_mels: int = 80
    mel_frames: int = 20
    audio_block_expansion: int = 32
    audio_channels: int = 256  # c of Enc_aud (h/4 x w/4 x c)
    audio_embedding: int = 512
    attention_block_expansion: int = 32

    # discriminator (FOMM vox-256: block_expansion 32, max_features 512, 4 blocks, sn)
    disc_block_expansion: int = 32
    disc_max_features: int = 512
    disc_num_blocks: int = 4
    disc_scales: list[float] = field(default_factory=lambda: [1.0])
    disc_spectral_norm: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Fail early on sizes the networks cannot honour rather than deep in a conv."""
        down = 2**self.gen_num_down_blocks
        if self.core_image_size % down:
            raise ModelError(f"the generator's size {self.core_image_size} is not divisible by {down}; fix the model config")
        if self.core_size and (self.core_size > self.image_size or self.image_size % self.core_size):
            raise ModelError(f"core_size {self.core_size} must divide image_size {self.image_size}; fix the model config")
        if len(self.keypoint_landmarks) > self.num_kp or any(not 0 <= i < 468 for i in self.keypoint_landmarks):
            raise ModelError(f"keypoint_landmarks must be at most {self.num_kp} MediaPipe indices (0-467); fix the model config")
        slots = self.keypoint_slots
        if slots and (len(slots) != len(self.keypoint_landmarks) or len(set(slots)) != len(slots) or any(not 0 <= k < self.num_kp for k in slots)):
            raise ModelError(
                f"keypoint_slots must name {len(self.keypoint_landmarks)} distinct keypoints (0-{self.num_kp - 1}), one per keypoint_landmarks entry; fix the model config"
            )
        for option in ("gen_mouth_inpaint", "gen_audio_at_mouth"):
            if getattr(self, option) and not set(MOUTH_ELLIPSE_LANDMARKS) <= set(self.keypoint_landmarks):
                raise ModelError(f"{option} needs keypoint_landmarks to include {list(MOUTH_ELLIPSE_LANDMARKS)}; fix the model config")
        if self.source_residual_padding not in ("zeros", "border"):
            raise ModelError(f"source_residual_padding must be zeros or border, not {self.source_residual_padding!r}; fix the model config")
        for what, scale, blocks in (("kp", self.kp_scale_factor, self.kp_num_blocks), ("dm", self.dm_scale_factor, self.dm_num_blocks)):
            side = self.image_size * scale
            if side != int(side) or int(side) % 2**blocks:
                raise ModelError(f"{what}: image_size x {what}_scale_factor = {side:g} must be a multiple of 2**{what}_num_blocks; fix the model config")
        feature = self.feature_size
        if feature & (feature - 1):
            raise ModelError(f"image_size / 2**gen_num_down_blocks = {feature} must be a power of two; fix the model config")
        if self.norm not in ("batch", "group"):
            raise ModelError(f"norm must be 'batch' or 'group', not {self.norm!r}")
        if self.spade_norm not in ("batch", "instance"):
            raise ModelError(f"spade_norm must be 'batch' or 'instance', not {self.spade_norm!r}")

    @property
    def landmark_keypoints(self) -> list[int]:
        """The keypoint that carries each of ``keypoint_landmarks``."""
        return list(self.keypoint_slots) or list(range(len(self.keypoint_landmarks)))

    def mouth_keypoint_slots(self) -> list[int]:
        """The keypoints on the inner lips (13, 14) and the mouth corners (61, 291), in that order."""
        slot = dict(zip(self.keypoint_landmarks, self.landmark_keypoints))
        return [slot[i] for i in MOUTH_ELLIPSE_LANDMARKS]

    @property
    def core_image_size(self) -> int:
        """Side of the generator's UNet (the output is image_size)."""
        return self.core_size or self.image_size

    @property
    def has_detail_stage(self) -> bool:
        return self.core_image_size < self.image_size

    @property
    def feature_size(self) -> int:
        """Side of Enc_motion / Enc_aud: h/4 in the paper (h / 2**num_down_blocks)."""
        return self.core_image_size // 2**self.gen_num_down_blocks

    def gen_channels(self, level: int) -> int:
        """Generator channels at ``level`` (0 = full resolution), FOMM's doubling rule."""
        return min(self.gen_max_features, self.gen_block_expansion * 2**level)

    @property
    def motion_channels(self) -> int:
        """c of Enc_motion (the warped source features at h/4)."""
        return self.gen_channels(self.gen_num_down_blocks)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        retired = [key for key in unknown if key in RETIRED_LOSS_KEYS]
        if retired:
            raise ModelError(f"{retired} are training settings now: set them under `losses:` in the training config")
        if unknown:
            raise ModelError(f"unknown model config keys {unknown}; check the config file")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        """The config in a model file's metadata; files written before the loss settings
        moved to the training config still carry them, and they are dropped here."""
        values = json.loads(text)
        if not isinstance(values, dict):
            raise TypeError(f"a model config is a JSON object, not {type(values).__name__}")
        return cls.from_dict({k: v for k, v in values.items() if k not in RETIRED_LOSS_KEYS})


def available_presets(folder: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def read_preset(name_or_path: str | Path, folder: Path = CONFIG_DIR, what: str = "model config") -> tuple[Path, dict[str, Any]]:
    """A preset by name (``light-128``: ``folder/light-128.yaml``) or a YAML file by path, as a
    mapping. The model presets and the training configs are found and read this one way, so
    both refuse a missing or broken file with the same one line."""
    path = Path(name_or_path)
    if not path.suffix:
        path = folder / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ModelError(f"{what} {name_or_path!s} not found; presets: {', '.join(available_presets(folder))}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ModelError(f"{what} {path} is not valid YAML ({exc.__class__.__name__}); fix the file") from exc
    if not isinstance(values, dict):
        raise ModelError(f"{what} {path} must be a mapping of key: value")
    return path, values


def load_config(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> ModelConfig:
    """Load a preset by name (``light-128``) or a YAML file by path; ``overrides`` (a training
    config's ``model_overrides``) change its values."""
    path, values = read_preset(name_or_path)
    values.setdefault("name", path.stem)
    return ModelConfig.from_dict({**values, **(overrides or {})})
