"""The look-ahead benchmark's instrument: windows cut at a look-ahead (the mouth box is codec.face_measures')."""

from __future__ import annotations

import numpy as np

from benchmarks.lookahead import live_windows
from codec.audio_features import DEFAULT as MEL
from codec.audio_features import SILENCE_VALUE, log_mel, mel_window, window_start_column


def test_a_window_cut_at_the_frame_is_silent_after_it_and_intact_before() -> None:
    rng = np.random.default_rng(1)
    wave = (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32)
    frame, fps = 25, 25.0
    full = live_windows(wave, [frame], fps, None)[0, 0].numpy()
    assert np.allclose(full, mel_window(log_mel(wave), frame, fps), atol=1e-5)
    cut = live_windows(wave, [frame], fps, 0.0)[0, 0].numpy()
    cutoff = int(frame / fps * MEL.sample_rate)
    first = window_start_column(frame, fps)
    left, right = MEL.n_fft // 2 - MEL.hop_length // 2, MEL.n_fft // 2 + MEL.hop_length // 2
    for k in range(full.shape[1]):
        lo, hi = (first + k) * MEL.hop_length - left, (first + k) * MEL.hop_length + right  # the samples column k reads
        if hi <= cutoff:
            assert np.allclose(cut[:, k], full[:, k], atol=1e-5), k
        elif lo >= cutoff:
            assert np.allclose(cut[:, k], SILENCE_VALUE, atol=1e-3), k
    assert not np.allclose(cut, full)
