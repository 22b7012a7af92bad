"""Speech measures on real Opus at two rates, and the rule that picks the lowest rate as good as 16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.speech_rate import Criteria, pick, speech_scores


def opus_round_trip(pcm: np.ndarray, kbps: int) -> np.ndarray:
    from codec.media.opus import OpusDecoder, OpusEncoder

    enc, dec = OpusEncoder(bitrate=kbps * 1000), OpusDecoder()
    packets = enc.encode(pcm) + enc.flush()
    return np.concatenate([dec.decode(p.data, p.n_samples) for p in packets])


def test_lower_rate_scores_worse_on_every_speech_measure(dev_clip: Path) -> None:
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    from codec.media import video_io

    speech = video_io.read_audio(dev_clip, sample_rate=16000)[: 4 * 16000]
    low, high = speech_scores(speech, opus_round_trip(speech, 6)), speech_scores(speech, opus_round_trip(speech, 16))
    assert speech_scores(speech, speech)["lsd_db"] == pytest.approx(0.0, abs=1e-6)
    assert low["pesq_wb"] < high["pesq_wb"] and low["stoi"] <= high["stoi"] + 0.005
    assert low["lsd_db"] > high["lsd_db"] and low["mel_distance"] > high["mel_distance"]


def row(kbps: int, pesq: float, lpips: float = 0.10) -> dict:
    return {"kbps": kbps, "pesq_wb": pesq, "stoi": 0.9, "lpips": lpips, "mouth_lpips": lpips}


def test_pick_is_the_lowest_rate_as_good_as_the_reference() -> None:
    chosen, verdicts = pick([row(6, 3.0), row(8, 3.6), row(12, 3.8), row(16, 3.85)], Criteria())
    assert chosen == 8 and verdicts[0].startswith("6 kbit/s: worse (PESQ")
    chosen, _ = pick([row(6, 3.8, lpips=0.2), row(16, 3.85)], Criteria())
    assert chosen == 16  # the picture got worse at 6
    assert pick([row(6, 3.0)], Criteria())[0] is None
