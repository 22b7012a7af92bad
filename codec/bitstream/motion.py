"""Motion payload coding: the keypoints of one frame <-> ``MotionFrame.payload`` bytes.

Each coder is a pair of functions registered in :data:`CODERS` under its
``avfr_pb2.MotionCoding`` value; :func:`encode_payload` / :func:`decode_payload` dispatch on
that value, so a compact coder (quantised, predicted, entropy-coded) is added as a sibling
pair without touching the container or the pipelines. Stateful coders (prediction from the
previous frame) will need a small coder object; the registry takes callables, so the raw
coder's stateless functions and such an object's bound methods fit the same slot.

A stream is coded by one :class:`MotionStreamEncoder` and read by one
:class:`MotionStreamDecoder`; they hold the state a predictive coder needs (the compact coder
of ``compact_motion.py``) and pass raw frames straight through the stateless pair.

Raw FP16 is the paper's count: K x 6 values, IEEE half precision, little-endian,
keypoint-major in the order ``(x, y, j00, j01, j10, j11)`` = 960 bits for K = 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from codec.bitstream.compact_motion import CompactMotionDecoder, CompactMotionEncoder, CompactMotionParams
from codec.errors import StreamError
from proto import avfr_pb2

VALUES_PER_KEYPOINT = 6  # (x, y, j00, j01, j10, j11)
_FP16_LE = np.dtype("<f2")
_FP16_MAX = 65504.0


def raw_fp16_bits(num_kp: int = 10) -> int:
    """Bits one frame costs in raw FP16 mode: the paper's per-frame motion rate."""
    return num_kp * VALUES_PER_KEYPOINT * 16


# Keypoints a stream may carry: far above any model's (10; 15 tried), and the bound on what a
# header's count can make a decoder allocate and loop over for each frame.
MAX_KEYPOINTS = 64
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
            f"motion coding {name} is not supported by this avfr (it reads {', '.join(_coding_name(c) for c in CODERS)}): upgrade avfr or re-encode the stream"
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


MOTION_CODING_NAMES = {"raw": avfr_pb2.MOTION_CODING_RAW_FP16, "compact": avfr_pb2.MOTION_CODING_COMPACT}


def compact_params_to_proto(params: CompactMotionParams, out: avfr_pb2.CompactMotionParams) -> None:
    out.position_step_inv = params.position_step_inv
    out.jacobian_step_inv = params.jacobian_step_inv
    out.intra_period = params.intra_period


def compact_params_from_header(header: avfr_pb2.StreamHeader) -> CompactMotionParams:
    if not header.HasField("compact_motion"):
        raise StreamError("the stream uses compact motion coding but its header lacks the coder settings: the stream is damaged")
    return _params_from_proto(header.compact_motion, "the stream header's")


def _frame_params(frame: avfr_pb2.MotionFrame) -> CompactMotionParams:
    return _params_from_proto(frame.compact_params, f"motion frame {frame.frame_index}'s")


def _params_from_proto(p: avfr_pb2.CompactMotionParams, where: str) -> CompactMotionParams:
    try:
        return CompactMotionParams(p.position_step_inv, p.jacobian_step_inv, p.intra_period)
    except ValueError as exc:
        raise StreamError(f"{where} compact motion settings are invalid ({exc}): the stream is damaged") from None


class MotionStreamEncoder:
    """The sender's side: keypoints ``[K, 6]`` -> (payload, self_contained) frame by frame."""

    def __init__(self, coding: int, num_kp: int, compact: CompactMotionParams | None = None) -> None:
        self.coding = coding
        self.num_kp = num_kp
        self.compact = compact or CompactMotionParams()
        self.last_sent: np.ndarray | None = None
        self.frame_params: CompactMotionParams | None = None  # settings the last frame must carry
        self._compact = CompactMotionEncoder(self.compact, num_kp) if coding == avfr_pb2.MOTION_CODING_COMPACT else None
        if self._compact is None:
            coder_for(coding)  # refuse an unknown coding at once

    def encode(self, kp: np.ndarray, force_self_contained: bool = False) -> tuple[bytes, bool]:
        """The frame's payload and whether it is self-contained; ``last_sent`` then holds the
        keypoints exactly as the receiver will decode them."""
        if self._compact is not None:
            payload, self_contained, self.last_sent = self._compact.encode(kp, force_self_contained)
            current = self._compact.state.params
            self.frame_params = current if self_contained and current != self.compact else None
            return payload, self_contained
        payload = encode_payload(kp, self.coding)
        self.last_sent = decode_payload(payload, self.coding, self.num_kp)
        return payload, False

    def change_params(self, params: CompactMotionParams) -> None:
        """New compact settings from the next frame on (ignored in raw mode)."""
        if self._compact is not None:
            self._compact.change_params(params)

    def fill_frame(self, frame: avfr_pb2.MotionFrame, kp: np.ndarray, force_self_contained: bool = False) -> None:
        """Code ``kp`` into ``frame``: payload, self-contained flag and any settings change."""
        frame.payload, frame.self_contained = self.encode(kp, force_self_contained)
        if self.frame_params is not None:
            compact_params_to_proto(self.frame_params, frame.compact_params)

    def fill_header(self, header: avfr_pb2.StreamHeader) -> None:
        header.motion_coding = self.coding
        if self._compact is not None:
            compact_params_to_proto(self.compact, header.compact_motion)


class MotionStreamDecoder:
    """The receiver's side: ``MotionFrame`` -> keypoints, or None while a predicted frame's
    reference is missing (the caller holds its last frame until a self-contained one)."""

    def __init__(self, header: avfr_pb2.StreamHeader) -> None:
        if not 1 <= header.num_keypoints <= MAX_KEYPOINTS:
            raise StreamError(f"the stream header gives {header.num_keypoints} keypoints per frame (avfr reads 1-{MAX_KEYPOINTS}): the stream is damaged")
        self.num_kp = header.num_keypoints
        self.default_coding = header.motion_coding
        self._compact: CompactMotionDecoder | None = None
        if header.motion_coding == avfr_pb2.MOTION_CODING_COMPACT or header.HasField("compact_motion"):
            self._compact = CompactMotionDecoder(compact_params_from_header(header), self.num_kp)

    def decode(self, frame: avfr_pb2.MotionFrame) -> np.ndarray | None:
        coding = frame.coding or self.default_coding
        if coding == avfr_pb2.MOTION_CODING_COMPACT:
            if self._compact is None:
                raise StreamError(f"motion frame {frame.frame_index} is compact-coded but the stream header has no compact settings: the stream is damaged")
            params = _frame_params(frame) if frame.self_contained and frame.HasField("compact_params") else None
            return self._compact.decode(frame.payload, frame.self_contained, frame.frame_index, params)
        return decode_payload(frame.payload, coding, self.num_kp)
