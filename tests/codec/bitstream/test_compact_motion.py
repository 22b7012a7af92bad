import numpy as np
import pytest

from codec.bitstream.compact_motion import (
    CompactMotionDecoder,
    CompactMotionEncoder,
    CompactMotionParams,
    dequantise,
    quantise,
)
from codec.errors import StreamError


def trajectory(frames: int, seed: int = 0, speed: float = 0.01) -> np.ndarray:
    """A smooth random walk of 10 keypoints with Jacobians near the identity."""
    rng = np.random.default_rng(seed)
    start = np.concatenate([rng.uniform(-0.6, 0.6, (10, 2)), np.tile([1.0, 0.0, 0.0, 1.0], (10, 1))], axis=1)
    velocity = np.cumsum(rng.normal(0, speed, (frames, 10, 6)), axis=0) * 0.3
    return (start + np.cumsum(velocity, axis=0) * 0.2).astype(np.float32)


def code_all(kps: np.ndarray, params: CompactMotionParams) -> tuple[list[tuple[bytes, bool]], list[np.ndarray]]:
    enc = CompactMotionEncoder(params)
    packets, sent = [], []
    for kp in kps:
        payload, intra, recon = enc.encode(kp)
        packets.append((payload, intra))
        sent.append(recon)
    return packets, sent


def test_decoder_reconstructs_exactly_what_the_encoder_predicted_with() -> None:
    params = CompactMotionParams()
    kps = trajectory(200)
    packets, sent = code_all(kps, params)
    dec = CompactMotionDecoder(params)
    for i, (payload, intra) in enumerate(packets):
        got = dec.decode(payload, intra, i)
        assert got is not None and np.array_equal(got, sent[i])
    step = 1.0 / params.step_inverses(10)
    assert np.all(np.abs(np.stack(sent) - kps) <= step / 2 + 1e-6)


def test_self_contained_frames_come_every_intra_period() -> None:
    packets, _ = code_all(trajectory(60), CompactMotionParams(intra_period=25))
    assert [i for i, (_, intra) in enumerate(packets) if intra] == [0, 25, 50]


def test_smooth_motion_costs_far_less_than_raw() -> None:
    packets, _ = code_all(trajectory(250, speed=0.005), CompactMotionParams())
    bits = 8 * sum(len(p) for p, _ in packets) / len(packets)
    assert bits < 300, bits


def test_a_lost_packet_is_recovered_at_the_next_self_contained_frame() -> None:
    params = CompactMotionParams(intra_period=10)
    packets, sent = code_all(trajectory(40), params)
    dec = CompactMotionDecoder(params)
    lost = 13
    out = [None if i == lost else dec.decode(p, intra, i) for i, (p, intra) in enumerate(packets)]
    assert all(np.array_equal(out[i], sent[i]) for i in range(lost))
    assert all(out[i] is None for i in range(lost, 20)), "frames after the loss wait for a self-contained frame"
    assert all(np.array_equal(out[i], sent[i]) for i in range(20, 40))


def test_a_damaged_payload_never_escapes_as_anything_but_stream_error() -> None:
    params = CompactMotionParams()
    packets, _ = code_all(trajectory(5), params)
    rng = np.random.default_rng(1)
    for trial in range(300):
        dec = CompactMotionDecoder(params)
        data = bytes(rng.integers(0, 256, rng.integers(0, 40), dtype=np.uint8))
        try:
            kp = dec.decode(data, True, 0)
        except StreamError:
            continue
        assert kp is not None and kp.shape == (10, 6) and np.all(np.isfinite(kp))


def test_quantise_refuses_nan() -> None:
    with pytest.raises(ValueError):
        quantise(np.full((10, 6), np.nan), CompactMotionParams())
    idx = quantise(np.ones((10, 6)), CompactMotionParams())
    assert np.array_equal(dequantise(idx, CompactMotionParams()), np.ones((10, 6), np.float32))


def test_long_streams_with_still_stretches_decode_exactly() -> None:
    """Regression: a payload whose stripped zero tail was longer than the decoder's look-ahead
    was once refused as damaged (frame 66 of a real dev clip)."""
    params = CompactMotionParams()
    rng = np.random.default_rng(0)
    kp = trajectory(1)[0].astype(np.float64)
    enc, dec = CompactMotionEncoder(params), CompactMotionDecoder(params)
    for i in range(3000):
        kp = kp + rng.normal(0, 0.004, kp.shape) * (rng.random() < 0.5)
        payload, intra, sent = enc.encode(kp)
        assert np.array_equal(dec.decode(payload, intra, i), sent), i
