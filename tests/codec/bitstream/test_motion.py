"""Raw FP16 motion coding: 960 bits per frame, exact for fp16 values, strict on what it reads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from codec.bitstream import motion
from codec.errors import StreamError
from proto import avfr_pb2


def test_raw_frame_is_exactly_960_bits() -> None:
    kp = np.random.default_rng(0).uniform(-1, 1, (10, 6)).astype(np.float32)
    payload = motion.pack_raw_fp16(kp)
    assert len(payload) * 8 == motion.MOTION_BITS_RAW == 960
    assert motion.raw_fp16_bits(10) == 960 and motion.CODERS[avfr_pb2.MOTION_CODING_RAW_FP16].bits_per_frame(10) == 960


def test_layout_is_keypoint_major_little_endian() -> None:
    kp = np.arange(60, dtype=np.float32).reshape(10, 6) / 64
    payload = motion.pack_raw_fp16(kp)
    assert payload[:2] == np.float16(kp[0, 0]).astype("<f2").tobytes()
    assert payload[12:14] == np.float16(kp[1, 0]).astype("<f2").tobytes()  # keypoint 1's x follows keypoint 0's j11


@settings(max_examples=200, deadline=None)
@given(arrays(np.float16, (10, 6), elements=st.floats(-65504, 65504, width=16)))
def test_fp16_values_roundtrip_exactly(kp16: np.ndarray) -> None:
    out = motion.decode_payload(motion.encode_payload(kp16.astype(np.float32)), avfr_pb2.MOTION_CODING_RAW_FP16, 10)
    assert out.dtype == np.float32 and out.shape == (10, 6)
    np.testing.assert_array_equal(out, kp16.astype(np.float32))


def test_float32_input_rounds_to_nearest_half() -> None:
    kp = np.random.default_rng(1).uniform(-1, 1, (10, 6)).astype(np.float32)
    out = motion.unpack_raw_fp16(motion.pack_raw_fp16(kp), 10)
    assert np.max(np.abs(out - kp)) <= 2**-11  # half an ulp of fp16 below 1


@pytest.mark.parametrize("bad", [np.full((10, 6), np.nan), np.full((10, 6), 1e6), np.zeros((10, 5)), np.zeros((1, 10, 6))])
def test_pack_refuses_what_fp16_cannot_carry(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        motion.pack_raw_fp16(bad)


def test_wrong_length_or_nan_payload_is_a_stream_error() -> None:
    with pytest.raises(StreamError, match="119 bytes, expected 120"):
        motion.unpack_raw_fp16(b"\0" * 119, 10)
    with pytest.raises(StreamError, match="NaN"):
        motion.unpack_raw_fp16(b"\xff\x7f" * 60, 10)


def test_unknown_coding_is_a_stream_error_naming_it() -> None:
    with pytest.raises(StreamError, match="motion coding 7"):
        motion.decode_payload(b"", 7, 10)
    with pytest.raises(StreamError, match="MOTION_CODING_UNSPECIFIED"):
        motion.decode_payload(b"", avfr_pb2.MOTION_CODING_UNSPECIFIED, 10)


# ---- stream-level coders (raw and compact behind one interface)


def _compact_header(intra_period: int = 5) -> "avfr_pb2.StreamHeader":
    from codec.bitstream.compact_motion import CompactMotionParams
    from codec.bitstream.motion import MotionStreamEncoder

    header = avfr_pb2.StreamHeader(num_keypoints=10)
    MotionStreamEncoder(avfr_pb2.MOTION_CODING_COMPACT, 10, CompactMotionParams(intra_period=intra_period)).fill_header(header)
    return header


def test_compact_stream_round_trips_through_motion_frames_without_coding_field() -> None:
    from codec.bitstream.compact_motion import CompactMotionParams
    from codec.bitstream.motion import MotionStreamDecoder, MotionStreamEncoder

    header = _compact_header()
    enc = MotionStreamEncoder(avfr_pb2.MOTION_CODING_COMPACT, 10, CompactMotionParams(intra_period=5))
    dec = MotionStreamDecoder(avfr_pb2.StreamHeader.FromString(header.SerializeToString()))
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(-0.5, 0.5, (10, 2)), np.tile([1.0, 0, 0, 1.0], (10, 1))], axis=1)
    for i in range(12):
        kp = kp + rng.normal(0, 0.01, kp.shape)
        payload, self_contained = enc.encode(kp)
        frame = avfr_pb2.MotionFrame(frame_index=i, payload=payload, self_contained=self_contained)
        got = dec.decode(avfr_pb2.MotionFrame.FromString(frame.SerializeToString()))
        assert got is not None and np.abs(got - kp).max() <= 1 / 32
        assert self_contained == (i % 5 == 0)


def test_compact_frames_without_header_settings_are_refused() -> None:
    from codec.bitstream.motion import MotionStreamDecoder

    dec = MotionStreamDecoder(avfr_pb2.StreamHeader(num_keypoints=10, motion_coding=avfr_pb2.MOTION_CODING_RAW_FP16))
    with pytest.raises(StreamError, match="compact"):
        dec.decode(avfr_pb2.MotionFrame(frame_index=0, coding=avfr_pb2.MOTION_CODING_COMPACT, payload=b"\x01"))
    with pytest.raises(StreamError, match="lacks the coder settings"):
        MotionStreamDecoder(avfr_pb2.StreamHeader(num_keypoints=10, motion_coding=avfr_pb2.MOTION_CODING_COMPACT))


def test_rate_control_settings_change_at_a_self_contained_frame_and_survive_its_loss() -> None:
    from codec.bitstream.compact_motion import CompactMotionParams
    from codec.bitstream.motion import MotionStreamDecoder, MotionStreamEncoder

    start, coarse = CompactMotionParams(intra_period=5), CompactMotionParams(64, 8, 5)
    header = _compact_header(intra_period=5)
    enc = MotionStreamEncoder(avfr_pb2.MOTION_CODING_COMPACT, 10, start)
    rng = np.random.default_rng(1)
    kp = np.concatenate([rng.uniform(-0.5, 0.5, (10, 2)), np.tile([1.0, 0, 0, 1.0], (10, 1))], axis=1)
    frames, sent = [], []
    for i in range(20):
        if i == 7:
            enc.change_params(coarse)
        kp = kp + rng.normal(0, 0.01, kp.shape)
        frame = avfr_pb2.MotionFrame(frame_index=i)
        enc.fill_frame(frame, kp)
        frames.append(avfr_pb2.MotionFrame.FromString(frame.SerializeToString()))
        sent.append(enc.last_sent)
    assert frames[7].self_contained and frames[7].compact_params.jacobian_step_inv == 8
    assert frames[12].self_contained and frames[12].HasField("compact_params"), "every later intra repeats the settings"
    assert not frames[5].HasField("compact_params"), "header settings are not repeated"
    full = MotionStreamDecoder(header)
    assert all(np.array_equal(full.decode(f), s) for f, s in zip(frames, sent))
    lossy = MotionStreamDecoder(header)
    got = [None if i == 7 else lossy.decode(f) for i, f in enumerate(frames)]
    assert all(g is None for g in got[7:12])
    assert all(np.array_equal(g, s) for g, s in zip(got[12:], sent[12:]))


@pytest.mark.parametrize("count", [0, motion.MAX_KEYPOINTS + 1, 2**32 - 1])
def test_a_header_keypoint_count_out_of_range_is_refused_before_allocating(count: int) -> None:
    """Fuzz finding: 1,257,578,281 keypoints in a forged header made the compact decoder
    allocate 56 GiB (0 keypoints crashed its range check on an empty array)."""
    import tracemalloc

    header = avfr_pb2.StreamHeader(num_keypoints=count, motion_coding=avfr_pb2.MOTION_CODING_COMPACT)
    header.compact_motion.position_step_inv, header.compact_motion.jacobian_step_inv, header.compact_motion.intra_period = 64, 16, 25
    tracemalloc.start()
    try:
        with pytest.raises(StreamError, match=f"gives {count} keypoints per frame"):
            motion.MotionStreamDecoder(header)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
