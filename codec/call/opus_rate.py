"""The Opus bitrate of a call's audio track.

aiortc's Opus encoder is fixed at 96 kbit/s, six times what speech needs and more than the
whole avfr video stream; avfr calls send speech at ``--audio-kbps`` (16 by default, as the
offline format). aiortc has no setting for it, so the encoder is given the rate right after it
is built (before the codec opens, so libopus applies it from the first packet).
"""

from __future__ import annotations

_original_init = None


def set_opus_bitrate(bits_per_second: int) -> None:
    global _original_init
    from aiortc.codecs import opus

    if _original_init is None:
        _original_init = opus.OpusEncoder.__init__
    original = _original_init

    def init(self: "opus.OpusEncoder") -> None:
        original(self)
        self.codec.bit_rate = int(bits_per_second)

    opus.OpusEncoder.__init__ = init  # type: ignore[method-assign]
