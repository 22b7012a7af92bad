"""libopus' own decoder, for what FFmpeg's wrapper of it cannot do: conceal a lost packet.

FFmpeg decodes only packets that arrived; for one that did not, libopus has packet-loss
concealment (``opus_decode`` with no data: it extends the speech from the decoder's state,
fading over long gaps) and in-band FEC (``decode_fec=1`` on the packet after a loss: the low
bit-rate copy of the lost audio that an encoder with FEC on puts in it, "LBRR"). Both need the
C API, so this module calls it through ctypes, in the copy of libopus that PyAV's wheel
ships (the same library FFmpeg decodes with), or a system one.

Audio is 48 kHz interleaved int16, ``channels`` wide, as aiortc's Opus track carries it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

import numpy as np

RATE = 48000
MAX_FRAME_SAMPLES = RATE * 120 // 1000  # the longest Opus packet (and PLC call): 120 ms


class LibopusMissing(RuntimeError):
    """No libopus to load: concealment is not available (decoding falls back to FFmpeg)."""


@functools.lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The libopus that PyAV bundles (``av.libs``), else the system's; LibopusMissing if none."""
    import av

    bundled = sorted((Path(av.__file__).resolve().parent.parent / "av.libs").glob("libopus*.so*"))
    candidates = [str(p) for p in bundled] + [name for name in (ctypes.util.find_library("opus"),) if name]
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        _declare(lib)
        return lib
    raise LibopusMissing("no libopus found (neither in PyAV's wheel nor on the system)")


def _declare(lib: ctypes.CDLL) -> None:
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_decode.restype = ctypes.c_int
    lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_int]
    lib.opus_packet_get_nb_samples.restype = ctypes.c_int
    lib.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
    if hasattr(lib, "opus_packet_has_lbrr"):  # libopus >= 1.5
        lib.opus_packet_has_lbrr.restype = ctypes.c_int
        lib.opus_packet_has_lbrr.argtypes = [ctypes.c_char_p, ctypes.c_int32]


class Decoder:
    """One Opus stream's decoder state: packets, concealment and FEC in stream order."""

    def __init__(self, channels: int = 2) -> None:
        self.lib = load()
        self.channels = channels
        error = ctypes.c_int(0)
        self._state = self.lib.opus_decoder_create(RATE, channels, ctypes.byref(error))
        if error.value != 0 or not self._state:
            raise LibopusMissing(f"opus_decoder_create failed ({error.value})")
        self._pcm = (ctypes.c_int16 * (MAX_FRAME_SAMPLES * channels))()

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self.lib.opus_decoder_destroy(self._state)
            self._state = None

    def samples_in(self, packet: bytes) -> int:
        """The packet's duration in samples (0 if it is not a valid Opus packet)."""
        n = self.lib.opus_packet_get_nb_samples(packet, len(packet), RATE)
        return max(n, 0)

    def has_fec(self, packet: bytes) -> bool:
        """Whether the packet carries an FEC copy of the audio before it."""
        return hasattr(self.lib, "opus_packet_has_lbrr") and self.lib.opus_packet_has_lbrr(packet, len(packet)) == 1

    def decode(self, packet: bytes) -> np.ndarray | None:
        """A packet that arrived -> ``[samples, channels]`` int16; None if libopus rejects it."""
        return self._call(packet, MAX_FRAME_SAMPLES, fec=False)

    def conceal(self, samples: int) -> np.ndarray:
        """``samples`` of packet-loss concealment, called in pieces of at most 120 ms."""
        out = []
        while samples > 0:
            piece = min(samples, MAX_FRAME_SAMPLES)
            pcm = self._call(None, piece, fec=False)
            out.append(pcm if pcm is not None else np.zeros((piece, self.channels), np.int16))
            samples -= piece
        return np.concatenate(out) if out else np.zeros((0, self.channels), np.int16)

    def recover(self, next_packet: bytes, samples: int) -> np.ndarray | None:
        """The last ``samples`` before ``next_packet`` from its FEC copy (None if it has none)."""
        if not self.has_fec(next_packet):
            return None
        return self._call(next_packet, samples, fec=True)

    def _call(self, data: bytes | None, frame_size: int, fec: bool) -> np.ndarray | None:
        n = self.lib.opus_decode(self._state, data, len(data) if data else 0, self._pcm, frame_size, int(fec))
        if n < 0:
            return None
        return np.ctypeslib.as_array(self._pcm)[: n * self.channels].reshape(n, self.channels).copy()
