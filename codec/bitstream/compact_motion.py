"""Compact motion coding: quantise, predict, arithmetic-code (``MOTION_CODING_COMPACT``).

The raw mode spends 960 bits on values that move by a few hundredths between frames. This
coder sends, per value, the change of its quantisation index since the previous frame:

* **Quantisation** by value type: positions (x, y in [-1, 1]) with step
  ``1 / position_step_inv``, Jacobian entries with step ``1 / jacobian_step_inv``. Both are
  integers in the stream header, so encoder and decoder compute the same reconstruction
  ``index / step_inv`` and every later prediction is bit-exact (benchmarks/motion_steps.py
  chooses the defaults by measuring reconstruction quality against raw FP16).
* **Prediction** from the previous frame's indices (closed loop: the encoder predicts from
  what the decoder has, never from unquantised values). A *self-contained* frame predicts
  from a fixed rest pose instead (positions 0, Jacobian = identity) and needs nothing before
  it.
* **Binarisation and context modelling**: each residual is a zero flag, a sign and a unary
  magnitude with an Exp-Golomb escape. Zero flags are coded in a context chosen by the value's
  type and by the size of the same value's residual in the previous frame (motion comes in
  bursts); signs and magnitude bins by value type. Contexts adapt as frames go and restart at
  every self-contained frame.

Rate control may change the quantiser, only at a self-contained frame, which then carries its
settings (every self-contained frame whose settings differ from the header's carries them,
so a receiver that lost the change learns it again at the next one).

Loss safety: a predicted frame depends on every frame back to the last self-contained one,
and the coder sends one at least every ``intra_period`` frames. A receiver that misses a
frame holds its last good motion and resumes at the next self-contained frame, so a lost
packet affects at most ``intra_period - 1`` frames after it (1 s at the default 25 at 25 fps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codec.bitstream.arithmetic import ArithmeticDecoder, ArithmeticEncoder, Contexts
from codec.errors import StreamError

VALUES_PER_KEYPOINT = 6
# Value type of each of the 6 values of a keypoint: x, y, diagonal and off-diagonal Jacobian.
VALUE_TYPES = (0, 1, 2, 3, 3, 2)
N_TYPES = 4
HISTORY_CLASSES = 3  # previous residual was 0, +-1, or larger
UNARY_BINS = 6  # magnitude bins before the Exp-Golomb escape
_ZERO_CTX = 0
_SIGN_CTX = _ZERO_CTX + N_TYPES * HISTORY_CLASSES
_MAG_CTX = _SIGN_CTX + N_TYPES
N_CONTEXTS = _MAG_CTX + N_TYPES * UNARY_BINS
MAX_INDEX = 1 << 20  # |index| bound: a Jacobian of 1000 at step 1/1024 still fits


@dataclass(frozen=True)
class CompactMotionParams:
    """The coder's settings; all of them travel in the stream header."""

    # Chosen by benchmarks/motion_steps.py (results/motion_steps.md): the coarsest steps that
    # cost at most 0.00125 LPIPS and 0.25 dB PSNR each against raw FP16.
    position_step_inv: int = 64
    jacobian_step_inv: int = 16
    intra_period: int = 25

    def __post_init__(self) -> None:
        if self.position_step_inv < 1 or self.jacobian_step_inv < 1:
            raise ValueError("quantisation steps are 1 / step_inv with step_inv >= 1")
        if self.intra_period < 1:
            raise ValueError("intra_period must be at least 1 frame")

    def step_inverses(self, num_kp: int) -> np.ndarray:
        """``[K, 6]`` of step inverses (positions first two columns)."""
        inv = np.full((num_kp, VALUES_PER_KEYPOINT), self.jacobian_step_inv, np.int64)
        inv[:, :2] = self.position_step_inv
        return inv


def rest_indices(params: CompactMotionParams, num_kp: int) -> np.ndarray:
    """The prediction of a self-contained frame: keypoints at the centre, Jacobians = identity."""
    rest = np.zeros((num_kp, VALUES_PER_KEYPOINT), np.int64)
    rest[:, 2] = rest[:, 5] = params.jacobian_step_inv
    return rest


def quantise(kp: np.ndarray, params: CompactMotionParams) -> np.ndarray:
    kp = np.asarray(kp, np.float64)
    if kp.ndim != 2 or kp.shape[1] != VALUES_PER_KEYPOINT:
        raise ValueError(f"keypoints must have shape [K, {VALUES_PER_KEYPOINT}], got {kp.shape}")
    if not np.all(np.isfinite(kp)):
        raise ValueError("keypoints contain NaN or inf: the keypoint detector output is broken")
    idx = np.rint(kp * params.step_inverses(kp.shape[0])).astype(np.int64)
    return np.clip(idx, -MAX_INDEX, MAX_INDEX)


def dequantise(indices: np.ndarray, params: CompactMotionParams) -> np.ndarray:
    """What the receiver renders with (float32, like the networks)."""
    return (indices / params.step_inverses(indices.shape[0])).astype(np.float32)


def _history_class(residual: int) -> int:
    return min(abs(residual), HISTORY_CLASSES - 1)


class _CoderState:
    """What encoder and decoder both track: the reference indices and the context state."""

    def __init__(self, params: CompactMotionParams, num_kp: int) -> None:
        self.params = params
        self.num_kp = num_kp
        self.reference: np.ndarray | None = None
        self.previous_residual = np.zeros((num_kp, VALUES_PER_KEYPOINT), np.int64)
        self.contexts = Contexts(N_CONTEXTS)

    def start(self, self_contained: bool) -> np.ndarray:
        """The prediction for the next frame (resetting the contexts for a self-contained one)."""
        if self_contained:
            self.contexts = Contexts(N_CONTEXTS)
            self.previous_residual[:] = 0
            return rest_indices(self.params, self.num_kp)
        assert self.reference is not None
        return self.reference

    def finish(self, indices: np.ndarray, prediction: np.ndarray) -> None:
        self.previous_residual = indices - prediction
        self.reference = indices


class CompactMotionEncoder:
    """Keypoints ``[K, 6]`` per frame -> (payload, self_contained, what the receiver will see).

    ``change_params`` (rate control) takes effect at the next frame, which is then
    self-contained: settings only ever change where a decoder can start afresh.
    """

    def __init__(self, params: CompactMotionParams, num_kp: int = 10) -> None:
        self.state = _CoderState(params, num_kp)
        self.frames_since_intra = 0
        self._pending: CompactMotionParams | None = None

    @property
    def params(self) -> CompactMotionParams:
        return self._pending or self.state.params

    def change_params(self, params: CompactMotionParams) -> None:
        if params != self.state.params:
            self._pending = params

    def encode(self, kp: np.ndarray, force_self_contained: bool = False) -> tuple[bytes, bool, np.ndarray]:
        st = self.state
        if self._pending is not None:
            st.params, self._pending, force_self_contained = self._pending, None, True
        indices = quantise(kp, st.params)
        if indices.shape[0] != st.num_kp:
            raise ValueError(f"expected {st.num_kp} keypoints, got {indices.shape[0]}")
        self_contained = force_self_contained or st.reference is None or self.frames_since_intra >= st.params.intra_period
        prediction = st.start(self_contained)
        enc = ArithmeticEncoder()
        for (k, v), residual in np.ndenumerate(indices - prediction):
            _encode_residual(enc, st.contexts, VALUE_TYPES[v], _history_class(int(st.previous_residual[k, v])), int(residual))
        st.finish(indices, prediction)
        self.frames_since_intra = 1 if self_contained else self.frames_since_intra + 1
        return enc.finish(), self_contained, dequantise(indices, st.params)


class CompactMotionDecoder:
    """Payloads back to keypoints; ``None`` for a predicted frame whose reference was lost."""

    def __init__(self, params: CompactMotionParams, num_kp: int = 10) -> None:
        self.default_params = params
        self.state = _CoderState(params, num_kp)
        self.last_frame_index: int | None = None

    def decode(self, payload: bytes, self_contained: bool, frame_index: int, params: CompactMotionParams | None = None) -> np.ndarray | None:
        """``params``: the settings a self-contained frame carries (None: the stream's default)."""
        st = self.state
        if self_contained:
            st.params = params or self.default_params
        chain_intact = self.last_frame_index is not None and frame_index == self.last_frame_index + 1
        if not self_contained and (not chain_intact or st.reference is None):
            self.last_frame_index = None  # stay out of sync until the next self-contained frame
            return None
        prediction = st.start(self_contained)
        dec = ArithmeticDecoder(payload)
        residual = np.zeros_like(prediction)
        for (k, v), _ in np.ndenumerate(prediction):
            residual[k, v] = _decode_residual(dec, st.contexts, VALUE_TYPES[v], _history_class(int(st.previous_residual[k, v])))
        indices = prediction + residual
        if np.abs(indices).max() > MAX_INDEX:
            self.last_frame_index = None
            raise StreamError(f"compact motion payload of frame {frame_index} decodes out of range: the stream is damaged")
        st.finish(indices, prediction)
        self.last_frame_index = frame_index
        return dequantise(indices, st.params)


def _encode_residual(enc: ArithmeticEncoder, ctx: Contexts, vtype: int, history: int, r: int) -> None:
    enc.encode_bit(ctx, _ZERO_CTX + vtype * HISTORY_CLASSES + history, int(r != 0))
    if r == 0:
        return
    enc.encode_bit(ctx, _SIGN_CTX + vtype, int(r < 0))
    magnitude = abs(r) - 1
    for b in range(UNARY_BINS):
        more = int(magnitude > b)
        enc.encode_bit(ctx, _MAG_CTX + vtype * UNARY_BINS + b, more)
        if not more:
            return
    _encode_exp_golomb(enc, magnitude - UNARY_BINS)


def _decode_residual(dec: ArithmeticDecoder, ctx: Contexts, vtype: int, history: int) -> int:
    if not dec.decode_bit(ctx, _ZERO_CTX + vtype * HISTORY_CLASSES + history):
        return 0
    negative = dec.decode_bit(ctx, _SIGN_CTX + vtype)
    magnitude = 0
    while magnitude < UNARY_BINS and dec.decode_bit(ctx, _MAG_CTX + vtype * UNARY_BINS + magnitude):
        magnitude += 1
    if magnitude == UNARY_BINS:
        magnitude += _decode_exp_golomb(dec)
    value = magnitude + 1
    return -value if negative else value


def _encode_exp_golomb(enc: ArithmeticEncoder, n: int) -> None:
    """Order-0 Exp-Golomb in bypass bits (rare large jumps: a head turn, a new keyframe)."""
    value = n + 1
    length = value.bit_length()
    enc.encode_bypass(0, length - 1)
    enc.encode_bypass(value, length)


def _decode_exp_golomb(dec: ArithmeticDecoder) -> int:
    zeros = 0
    while dec.decode_bypass(1) == 0:
        zeros += 1
        if zeros > 40:
            raise StreamError("compact motion payload holds an impossible Exp-Golomb code: the stream is damaged")
    return ((1 << zeros) | dec.decode_bypass(zeros)) - 1


__all__ = ["CompactMotionDecoder", "CompactMotionEncoder", "CompactMotionParams", "dequantise", "quantise"]
