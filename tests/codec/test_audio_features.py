"""The 200 ms window is centred on its video frame, and silence is one fixed value."""

from __future__ import annotations

import numpy as np
import pytest

from codec import audio_features as af
from codec.errors import InputError

RATE = 16000


def test_shapes_and_range() -> None:
    wave = 0.3 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    mel = af.log_mel(wave, RATE)
    assert mel.shape == (80, 100)
    assert mel.min() >= -1.0 and mel.max() <= 1.0
    assert af.mel_window(mel, 10).shape == (80, 20)


def test_impulse_at_frame_time_lands_in_the_middle_columns() -> None:
    t = 12  # frame 12 at 25 fps is on screen 480-520 ms; its middle is 500 ms
    wave = np.zeros(RATE, np.float32)
    wave[int((t + 0.5) / 25 * RATE)] = 1.0
    window = af.mel_window(af.log_mel(wave, RATE), t)
    energy = window.mean(axis=0)
    assert set(np.argsort(energy)[-2:]) == {9, 10}
    assert np.all(energy[:7] == af.SILENCE_VALUE) and np.all(energy[13:] == af.SILENCE_VALUE)


def test_stream_edges_are_padded_with_silence() -> None:
    wave = 0.5 * np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    mel = af.log_mel(wave, RATE)
    first = af.mel_window(mel, 0)  # covers -80 .. 120 ms
    assert np.all(first[:, :8] == af.SILENCE_VALUE)
    assert np.all(first[:, 9:] > af.SILENCE_VALUE)
    last = af.mel_window(mel, 24)  # covers 880 .. 1080 ms of a 1000 ms signal
    assert np.all(last[:, -8:] == af.SILENCE_VALUE)
    assert np.all(last[:, :11] > af.SILENCE_VALUE)


def test_missing_and_silent_audio_are_the_silence_window() -> None:
    silence = af.silence_window()
    assert silence.shape == (80, 20) and np.all(silence == af.SILENCE_VALUE)
    zeros = af.log_mel(np.zeros(RATE, np.float32), RATE)
    assert np.array_equal(af.mel_window(zeros, 5), silence)


def test_wrong_rate_or_shape_is_an_input_error() -> None:
    with pytest.raises(InputError, match="16000 Hz"):
        af.log_mel(np.zeros(44100, np.float32), 44100)
    with pytest.raises(InputError, match="mono"):
        af.log_mel(np.zeros((2, RATE), np.float32), RATE)
