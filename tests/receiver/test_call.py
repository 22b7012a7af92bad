"""Live calls between two real processes over loopback WebRTC (aiortc on both ends)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.call import CallCondition, run_loopback_call
from codec.media import video_io
from receiver.live import PlayoutConfig

pytestmark = [pytest.mark.slow, pytest.mark.data]
SECONDS = 10.0


@pytest.fixture(scope="module")
def call_clip(talking_heads: Path) -> Path:
    """A dev clip of 10.1 s with speech."""
    return talking_heads / "dev" / "FuxiVirtualHuman__styletalk__src_feifeili_clip1.mp4"


def _logs(result: dict) -> str:
    return "\n".join(f"--- {name}\n{text}" for name, text in result["logs"].items())


def test_clean_call_is_bit_exact_and_recorded_with_sound(call_clip: Path, tmp_path: Path) -> None:
    result = run_loopback_call(call_clip, SECONDS, tmp_path)
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    sent = result["sender"]["frames"]
    assert sent == int(SECONDS * 25)
    compare = result["motion_compare"]
    assert compare["bit_exact"], compare  # every motion packet arrived, byte for byte
    recording = Path(result["paths"]["recording.mp4"])
    info = video_io.probe(recording)
    assert info.frame_count == sent and info.fps == 25.0
    assert info.has_audio and info.audio_sample_rate == 16000
    received = video_io.read_audio(recording, sample_rate=16000)
    original = video_io.read_audio(call_clip, sample_rate=16000)[: len(received)]
    assert abs(len(received) / 16000 - sent / 25) < 0.25
    assert _envelope_correlation(original, received) > 0.6  # it is the clip's speech, in time


def test_call_with_loss_and_jitter_keeps_playing_and_recovers(call_clip: Path, tmp_path: Path) -> None:
    result = run_loopback_call(call_clip, SECONDS, tmp_path, CallCondition("lossy", netem="loss=0.1,jitter=0.05"))
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    sent, receiver = result["sender"]["frames"], result["receiver"]
    assert result["sender"]["wire"]["netem"]["dropped"] > 0
    # One picture per stream frame, lost ones included: the stream plays at its own rate.
    assert receiver["frames_out"] == sent == receiver["recorded_frames"]
    missing = result["motion_compare"]["missing"]
    assert missing, "10% datagram loss should have cost some motion frames"
    shown = sorted(int(i) for i in result["receiver-timeline"]["shown_wall"])
    assert any(i > missing[0] for i in shown), "no frame was rendered after the first loss: the receiver did not recover"
    assert receiver["max_held_frames"] <= PlayoutConfig().capacity_frames


def _envelope_correlation(a: np.ndarray, b: np.ndarray, hop: int = 800) -> float:
    """Correlation of the 50 ms RMS envelopes, best over lags of up to +-0.2 s."""
    n = min(len(a), len(b)) // hop
    ea = np.sqrt((a[: n * hop].reshape(n, hop) ** 2).mean(1))
    eb = np.sqrt((b[: n * hop].reshape(n, hop) ** 2).mean(1))
    best = -1.0
    for lag in range(-4, 5):
        x, y = (ea[lag:], eb[: n - lag]) if lag >= 0 else (ea[: n + lag], eb[-lag:])
        best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


def test_http_signaling_connects_a_short_call(call_clip: Path, tmp_path: Path) -> None:
    result = run_loopback_call(call_clip, 3.0, tmp_path, CallCondition("http", signaling="http"))
    assert result["exit_codes"] == {"sender": 0, "receiver": 0}, _logs(result)
    assert result["sender"]["frames"] == 75 and result["motion_compare"]["bit_exact"]
