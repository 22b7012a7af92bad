"""The look-ahead benchmark's two instruments: windows cut at a look-ahead, and the mouth box."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.lookahead import crop_mouths, live_windows, mouth_boxes
from codec.audio_features import DEFAULT as MEL, SILENCE_VALUE, log_mel, mel_window, window_start_column


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


def test_mouth_boxes_hold_the_lips_and_stay_inside_the_picture() -> None:
    size = 128
    lips = np.array([0, 1, 2, 3])
    lm = np.zeros((2, 468, 2), np.float32)
    lm[0, lips] = [[0.4, 0.7], [0.6, 0.7], [0.5, 0.65], [0.5, 0.75]]
    lm[1, lips] = [[0.9, 0.95], [1.0, 0.95], [0.95, 0.9], [0.95, 1.0]]  # at the corner: clipped
    boxes = mouth_boxes(lm, size, lips)
    y0, y1, x0, x1 = boxes[0]
    assert y0 < 0.65 * size and y1 > 0.75 * size and x0 < 0.4 * size and x1 > 0.6 * size
    assert all(0 <= b[0] < b[1] <= size and 0 <= b[2] < b[3] <= size for b in boxes)
    crops = crop_mouths(torch.rand(2, 3, size, size), boxes)
    assert crops.shape == (2, 3, 64, 64)
