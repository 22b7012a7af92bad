"""Motion payload coding: the keypoints of one frame <-> ``MotionFrame.payload`` bytes.

Each coder is a pair of functions registered in :data:`CODERS` under its
``avfr_pb2.MotionCoding`` value; :func:`encode_payload` / :func:`decode_payload` dispatch on
that value, so a compact coder (quantised, predicted, entropy-coded) is added as a sibling
pair without touching the container or the pipelines. Stateful coders (prediction from the
previous frame) will need a small coder object; the registry takes callables, so the raw
coder's stateless functions and such an object's bound methods fit the same slot.

Raw FP16 is the paper's count: K x 6 values, IEEE half precision, little-endian,
keypoint-major in the order ``(x, y, j00, j01, j10, j11)`` = 960 bits for K = 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from codec.errors import StreamError
from proto import avfr_pb2

VALUES_PER_KEYPOINT = 6  # (x, y, j00, j01, j10, j11)
_FP16_LE = np.dtype("<f2")
_FP16_MAX = 65504.0


def raw_fp16_bits(num_kp: int = 10) -> int:
    """Bits one frame costs in raw FP16 mode: the paper's per-frame motion rate."""
    return num_kp * VALUES_PER_KEYPOINT * 16


MOTION_BITS_RAW = raw_fp16_bits(10)  # 960 bits per frame for the paper's K = 10
MOTION_BYTES_RAW = MOTION_BITS_RAW // 8  # 120


def _check_keypoints(kp: np.ndarray) -> np.ndarray:
    kp = np.asarray(kp)
    if kp.ndim != 2 or kp.shape[1] != VALUES_PER_KEYPOINT:
        raise ValueError(f"keypoints must have shape [K, {VALUES_PER_KEYPOINT}], got {kp.shape}")
    return kp


def pack_raw_fp16(kp: np.ndarray) -> bytes:
    """Keypoints ``[K, 6]`` -> K*12 bytes of little-endian float16.

    A value that does not fit float16 (|v| > 65504, NaN) is refused rather than sent as
    inf/NaN, since the receiver's warp would turn it into a garbage frame with no warning.
    """
    kp = _check_keypoints(kp)
    if not np.all(np.isfinite(kp)):
        raise ValueError("keypoints contain NaN or inf: the keypoint detector output is broken")
    if np.any(np.abs(kp) > _FP16_MAX):
        raise ValueError(f"keypoint values overflow float16 (max |v| = {np.abs(kp).max():g} > 65504)")
    return kp.astype(_FP16_LE).tobytes(order="C")


def unpack_raw_fp16(payload: bytes, num_kp: int) -> np.ndarray:
    """K*12 bytes -> keypoints ``[K, 6]`` float32 (what the networks take)."""
    expected = num_kp * VALUES_PER_KEYPOINT * 2
    if len(payload) != expected:
        raise StreamError(
            f"raw FP16 motion payload is {len(payload)} bytes, expected {expected} for {num_kp} keypoints: "
            "the stream is damaged or its header's keypoint count is wrong"
        )
    kp = np.frombuffer(payload, dtype=_FP16_LE).astype(np.float32).reshape(num_kp, VALUES_PER_KEYPOINT)
    if not np.all(np.isfinite(kp)):
        raise StreamError("motion payload holds NaN or inf keypoints: the stream is damaged")
    return kp


@dataclass(frozen=True)
class MotionCoder:
    """One payload coding: how to write and read a frame, and what it costs (None = variable)."""

    name: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes, int], np.ndarray]
    bits_per_frame: Callable[[int], int | None]


CODERS: dict[int, MotionCoder] = {
    avfr_pb2.MOTION_CODING_RAW_FP16: MotionCoder("raw-fp16", pack_raw_fp16, unpack_raw_fp16, raw_fp16_bits),
}


def coder_for(coding: int) -> MotionCoder:
    """The coder for a header/frame's MotionCoding value, or a StreamError naming it."""
    try:
        return CODERS[coding]
    except KeyError:
        name = _coding_name(coding)
        raise StreamError(
            f"motion coding {name} is not supported by this avfr (it reads "
            f"{', '.join(_coding_name(c) for c in CODERS)}): upgrade avfr or re-encode the stream"
        ) from None


def encode_payload(kp: np.ndarray, coding: int = avfr_pb2.MOTION_CODING_RAW_FP16) -> bytes:
    return coder_for(coding).encode(kp)


def decode_payload(payload: bytes, coding: int, num_kp: int) -> np.ndarray:
    return coder_for(coding).decode(payload, num_kp)


def _coding_name(coding: int) -> str:
    try:
        return avfr_pb2.MotionCoding.Name(coding)
    except ValueError:
        return str(coding)
