"""Log-mel features and the 200 ms window centred on a video frame (paper section 3, audio branch).

Framing, chosen so that windows line up exactly with video frames:
mel column ``j`` summarises the sound around the 10 ms hop interval ``[j * 10 ms, (j+1) * 10 ms)``
(its analysis window is centred on that interval's middle, ``j * 10 ms + 5 ms``). Video frame
``t`` at 25 fps is on screen during ``[40 t, 40 t + 40) ms``; frames ``t-2 .. t+2`` span
``[40 t - 80, 40 t + 120) ms``, which is exactly columns ``4 t - 8 .. 4 t + 11``: 20 columns,
centred on the middle of frame ``t``. Other frame rates use the nearest column.

Levels: power in dB relative to a full-scale sine, floored at ``SILENCE_DB`` and mapped
linearly so that the floor is -1 and ``TOP_DB`` is +1 (clipped). Fixed constants, no
per-clip normalisation: silence (digital zero, missing audio, outside the signal) is always
exactly -1, and loudness differences between clips survive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from codec.errors import InputError


@dataclass(frozen=True)
class AudioFeatureConfig:
    """STFT + mel settings.

    ``win_length`` 400 (25 ms) is the speech-recognition standard (Kaldi, Whisper): short
    enough to resolve plosives and lip closures at the 10 ms hop, long enough for pitch
    harmonics. ``n_fft`` 512 zero-pads it to the next power of two (31 Hz bins), which keeps
    the 80 mel filters above 55 Hz non-empty (Wav2Lip's 800-sample window would blur 50 ms,
    more than a video frame). ``fmin`` 55 / ``fmax`` 7600 Hz follow Wav2Lip's speech band,
    just under the 8 kHz Nyquist.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    window_seconds: float = 0.2
    silence_db: float = -80.0
    top_db: float = 10.0

    @property
    def columns_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def window_columns(self) -> int:
        """Columns in one window: 20 for 200 ms at 10 ms."""
        return int(round(self.window_seconds * self.columns_per_second))


DEFAULT = AudioFeatureConfig()
SILENCE_DB = DEFAULT.silence_db
SILENCE_VALUE = -1.0  # the normalised value of SILENCE_DB, whatever the config


@lru_cache(maxsize=4)
def _mel_basis(config: AudioFeatureConfig) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax, norm=None).astype(
        np.float32
    )


@lru_cache(maxsize=4)
def _window(config: AudioFeatureConfig) -> np.ndarray:
    import scipy.signal

    win = scipy.signal.get_window("hann", config.win_length, fftbins=True).astype(np.float32)
    pad = config.n_fft - config.win_length
    return np.pad(win, (pad // 2, pad - pad // 2))


def check_wave(wave: np.ndarray, sample_rate: int | None, config: AudioFeatureConfig = DEFAULT) -> np.ndarray:
    """A 1-D float32 signal at the config's rate, or an InputError that says what to fix."""
    if sample_rate is not None and int(sample_rate) != config.sample_rate:
        raise InputError(
            f"audio is at {sample_rate} Hz, features need {config.sample_rate} Hz: "
            f"read it with video_io.read_audio(path, sample_rate={config.sample_rate}) or resample it"
        )
    wave = np.asarray(wave)
    if wave.ndim == 2 and 1 in wave.shape:
        wave = wave.reshape(-1)
    if wave.ndim != 1:
        raise InputError(f"audio must be mono (1-D), got shape {wave.shape}: average the channels first")
    if wave.dtype == np.int16:
        return wave.astype(np.float32) / 32768.0
    return wave.astype(np.float32, copy=False)


def log_mel(wave: np.ndarray, sample_rate: int | None = None, config: AudioFeatureConfig = DEFAULT) -> np.ndarray:
    """[n_mels, ceil(len / hop)] float32 in [-1, 1]; column j covers samples [j*hop, (j+1)*hop).

    Pass `sample_rate` whenever the wave comes from outside: a wrong rate raises InputError
    instead of silently shifting every formant.
    """
    wave = check_wave(wave, sample_rate, config)
    hop, n_fft = config.hop_length, config.n_fft
    n_cols = int(math.ceil(len(wave) / hop))
    if n_cols == 0:
        return np.full((config.n_mels, 0), SILENCE_VALUE, np.float32)
    # Centre column j's analysis window on j*hop + hop/2; zeros (silence) beyond the signal.
    left = n_fft // 2 - hop // 2
    right = (n_cols - 1) * hop + n_fft - len(wave) - left
    padded = np.pad(wave, (left, max(right, 0)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_cols]
    spectrum = np.fft.rfft(frames * _window(config), axis=1)
    # Amplitude scaled so that a full-scale sine peaks at 0 dB in its band.
    magnitude = np.abs(spectrum).astype(np.float32) * (2.0 / _window(config).sum())
    power = _mel_basis(config) @ (magnitude.T**2)
    return db_to_unit(10.0 * np.log10(np.maximum(power, 10.0 ** (config.silence_db / 10.0))), config)


def db_to_unit(db: np.ndarray, config: AudioFeatureConfig = DEFAULT) -> np.ndarray:
    """Map [silence_db, top_db] linearly to [-1, 1], clipped: the fixed normalisation."""
    unit = 2.0 * (db - config.silence_db) / (config.top_db - config.silence_db) - 1.0
    return np.clip(unit, -1.0, 1.0).astype(np.float32)


def window_start_column(frame_index: int, fps: float = 25.0, config: AudioFeatureConfig = DEFAULT) -> int:
    """First mel column of the window centred on the middle of video frame `frame_index`."""
    centre = (frame_index + 0.5) / fps
    return int(round((centre - config.window_seconds / 2) * config.columns_per_second))


def mel_window(mel: np.ndarray, frame_index: int, fps: float = 25.0, config: AudioFeatureConfig = DEFAULT) -> np.ndarray:
    """[n_mels, 20] float32: the 200 ms of features centred on frame `frame_index` (t-2..t+2 at 25 fps).

    Columns before the start or after the end of the signal hold the silence value, so the
    first and last frames of a stream get windows of the same shape as every other frame.
    """
    width = config.window_columns
    start = window_start_column(frame_index, fps, config)
    out = np.full((mel.shape[0], width), SILENCE_VALUE, np.float32)
    lo, hi = max(start, 0), min(start + width, mel.shape[1])
    if hi > lo:
        out[:, lo - start : hi - start] = mel[:, lo:hi]
    return out


def silence_window(config: AudioFeatureConfig = DEFAULT) -> np.ndarray:
    """The window for a frame with no audio at all (missing track): the silence floor everywhere."""
    return np.full((config.n_mels, config.window_columns), SILENCE_VALUE, np.float32)


__all__ = [
    "AudioFeatureConfig",
    "DEFAULT",
    "SILENCE_DB",
    "SILENCE_VALUE",
    "check_wave",
    "log_mel",
    "db_to_unit",
    "window_start_column",
    "mel_window",
    "silence_window",
]
