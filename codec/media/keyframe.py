"""Keyframe image coding: one RGB face crop <-> a few kilobytes of a real image codec.

The keyframe is sent once per stream (and on refresh), so it dominates a short call's
bytes; its quality bounds everything the receiver renders. The codec and default quality
are the ones measured best at 2-10 KB on real 256x256 face crops by
``python -m benchmarks.keyframe_codecs`` (numbers in benchmarks/results/keyframe_codecs.md).

Each codec's ``quality`` is its own native knob, stated in :data:`CODECS` (JPEG/WebP/JPEG XL:
0-100, higher is better; AV1/HEVC: CRF, VVC: QP, lower is better): translating them to one
scale would hide what the encoder was actually asked to do.

Backends: PyAV's bundled FFmpeg where it has the encoder (WebP, AV1 via SVT-AV1, HEVC via
x265) and decoder (also VVC); the imageio-ffmpeg binary for what PyAV's build lacks (VVenC
for VVC, libjxl for JPEG XL); Pillow's libjpeg for the JPEG baseline. Data always travels
as a bare elementary stream / image file, never inside a container, so no bytes are wasted.
"""

from __future__ import annotations

import io
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np

from codec.errors import StreamError
from proto import avfr_pb2

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole config at info level otherwise

_ENCODE_TIMEOUT_S = 60
_DECODE_TIMEOUT_S = 10  # libjxl in FFmpeg can spin forever on a truncated codestream


# --------------------------------------------------------------------------- backends


@contextmanager
def normal_scheduling() -> Iterator[None]:
    """Give the calling thread its scheduling policy back after a codec library ran in it.

    SVT-AV1, run as root, switches the thread that opens it to real-time SCHED_FIFO 99 and
    leaves it there. Every thread and process started from it afterwards inherits that; two
    of them busy at once then own both cores and nothing else runs again (this froze a whole
    test run: the browser it started spun at FIFO 99).
    """
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        if os.sched_getscheduler(0) != policy or os.sched_getparam(0) != param:
            os.sched_setscheduler(0, policy, param)


def _av_encode(encoder: str, rgb: np.ndarray, pix_fmt: str, options: dict[str, str]) -> bytes:
    import av
    from av.codec.context import CodecContext

    with normal_scheduling():
        ctx = CodecContext.create(encoder, "w")
        ctx.width, ctx.height = rgb.shape[1], rgb.shape[0]
        ctx.pix_fmt = pix_fmt
        ctx.time_base = Fraction(1, 25)
        ctx.options = options
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format=pix_fmt)
        frame.pts = 0
        packets = ctx.encode(frame) + ctx.encode(None)
        del ctx  # closes the encoder and its threads here, under the guard
    return b"".join(bytes(p) for p in packets)


def _av_decode(decoder: str, data: bytes) -> np.ndarray:
    import av
    from av.codec.context import CodecContext

    ctx = CodecContext.create(decoder, "r")
    ctx.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
    frames = list(ctx.decode(av.Packet(data))) + list(ctx.decode(None))
    if not frames:
        raise ValueError("the decoder produced no picture")
    return frames[0].to_ndarray(format="rgb24")


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The imageio-ffmpeg binary: its FFmpeg build has VVenC and libjxl, PyAV's lacks them."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg(args: list[str], data: bytes, timeout_s: float) -> bytes:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", *args]
    try:
        result = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ValueError(f"ffmpeg did not finish within {timeout_s:g} s") from None
    if result.returncode != 0 or not result.stdout:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise ValueError(message[-1] if message else f"ffmpeg exited with {result.returncode}")
    return result.stdout


def _ffmpeg_encode(rgb: np.ndarray, codec_args: list[str], muxer: str) -> bytes:
    h, w = rgb.shape[:2]
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "-", *codec_args, "-frames:v", "1", "-f", muxer, "-"]
    return _ffmpeg(args, np.ascontiguousarray(rgb).tobytes(), _ENCODE_TIMEOUT_S)


def _ffmpeg_decode(data: bytes, demuxer: str, decoder: str) -> np.ndarray:
    probe = ["-f", demuxer, "-c:v", decoder, "-i", "-", "-frames:v", "1"]
    # The size is not known before decoding: ask for a PAM image, whose header carries it.
    out = _ffmpeg([*probe, "-f", "image2pipe", "-c:v", "pam", "-pix_fmt", "rgb24", "-"], data, _DECODE_TIMEOUT_S)
    return _parse_pam(out)


def _parse_pam(data: bytes) -> np.ndarray:
    end = data.index(b"ENDHDR\n") + len(b"ENDHDR\n")
    fields = dict(line.split(b" ", 1) for line in data[:end].splitlines()[1:-1])
    w, h, depth = int(fields[b"WIDTH"]), int(fields[b"HEIGHT"]), int(fields[b"DEPTH"])
    pixels = np.frombuffer(data, np.uint8, count=w * h * depth, offset=end)
    return pixels.reshape(h, w, depth)[..., :3].copy()


def _pillow_jpeg_encode(rgb: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality), optimize=True, subsampling=2)
    return buf.getvalue()


def _pillow_decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.asarray(im.convert("RGB"))


def _jxl_distance(quality: int) -> float:
    """libjxl's own quality -> Butteraugli distance mapping (JxlEncoderDistanceFromQuality)."""
    q = float(quality)
    return 0.1 + (100 - q) * 0.09 if q >= 30 else 53.0 / 3000.0 * q * q - 23.0 / 20.0 * q + 25.0


def _av_has(name: str, mode: str) -> bool:
    try:
        import av

        av.codec.Codec(name, mode)
        return True
    except Exception:
        return False


@lru_cache(maxsize=None)
def _ffmpeg_has(kind: str, name: str) -> bool:
    try:
        out = subprocess.run([ffmpeg_exe(), "-hide_banner", f"-{kind}"], capture_output=True, timeout=30).stdout
    except Exception:
        return False
    return any(line.split()[1:2] == [name.encode()] for line in out.splitlines() if line.strip())


# --------------------------------------------------------------------------- the codecs


@dataclass(frozen=True)
class ImageCodec:
    """One keyframe codec: its wire id, its native quality knob, and how to run it."""

    name: str
    proto: int
    quality_range: tuple[int, int]
    higher_is_better: bool
    encode: Callable[[np.ndarray, int], bytes]
    decode: Callable[[bytes], np.ndarray]
    available: Callable[[], bool]
    knob: str
    encode_live: Callable[[np.ndarray, int], bytes] | None = None  # a faster setting for live calls, where there is one


CODECS: dict[str, ImageCodec] = {
    c.name: c
    for c in (
        ImageCodec(
            "jpeg",
            avfr_pb2.KEYFRAME_CODEC_JPEG,
            (1, 95),
            True,
            _pillow_jpeg_encode,
            _pillow_decode,
            lambda: True,
            "libjpeg quality (Pillow, optimised Huffman, 4:2:0)",
        ),
        ImageCodec(
            "webp",
            avfr_pb2.KEYFRAME_CODEC_WEBP,
            (0, 100),
            True,
            lambda rgb, q: _av_encode("libwebp", rgb, "yuv420p", {"quality": str(q), "compression_level": "6"}),
            lambda data: _av_decode("webp", data),
            lambda: _av_has("libwebp", "w") and _av_has("webp", "r"),
            "libwebp quality, method 6",
        ),
        ImageCodec(
            "av1",
            avfr_pb2.KEYFRAME_CODEC_AV1_INTRA,
            (0, 63),
            False,
            lambda rgb, q: _av_encode("libsvtav1", rgb, "yuv420p", {"crf": str(q), "preset": "4"}),
            lambda data: _av_decode("libdav1d", data),
            lambda: _av_has("libsvtav1", "w") and _av_has("libdav1d", "r"),
            "SVT-AV1 CRF, preset 4",
        ),
        ImageCodec(
            "hevc",
            avfr_pb2.KEYFRAME_CODEC_HEVC_INTRA,
            (0, 51),
            False,
            lambda rgb, q: _av_encode("libx265", rgb, "yuv420p", {"crf": str(q), "preset": "slow", "x265-params": "log-level=error:info=0"}),
            lambda data: _av_decode("hevc", data),
            lambda: _av_has("libx265", "w") and _av_has("hevc", "r"),
            "x265 CRF, preset slow",
        ),
        ImageCodec(
            "vvc",
            avfr_pb2.KEYFRAME_CODEC_VVC_INTRA,
            (0, 63),
            False,
            lambda rgb, q: _ffmpeg_encode(rgb, ["-c:v", "libvvenc", "-qp", str(q), "-preset", "medium"], "vvc"),
            lambda data: _av_decode("vvc", data) if _av_has("vvc", "r") else _ffmpeg_decode(data, "vvc", "vvc"),
            lambda: _ffmpeg_has("encoders", "libvvenc"),
            "VVenC QP, preset medium (10-bit 4:2:0)",
            # A live sender waits for its keyframe: at 256 px preset medium takes ~1.4 s on a
            # busy core (35 frames that cannot be analysed), faster ~0.13 s for ~5% more bytes.
            lambda rgb, q: _ffmpeg_encode(rgb, ["-c:v", "libvvenc", "-qp", str(q), "-preset", "faster"], "vvc"),
        ),
        ImageCodec(
            "jxl",
            avfr_pb2.KEYFRAME_CODEC_JPEG_XL,
            (1, 100),
            True,
            lambda rgb, q: _ffmpeg_encode(rgb, ["-c:v", "libjxl", "-distance", f"{_jxl_distance(q):.3f}", "-effort", "7"], "image2pipe"),
            lambda data: _ffmpeg_decode(data, "jpegxl_pipe", "libjxl"),
            lambda: _ffmpeg_has("encoders", "libjxl") and _ffmpeg_has("decoders", "libjxl"),
            "libjxl quality (distance mapping), effort 7",
        ),
    )
}
_BY_PROTO = {c.proto: c for c in CODECS.values()}


@dataclass(frozen=True)
class KeyframeConfig:
    """Which codec codes keyframes and at what (codec-native) quality.

    Defaults: the measured best at 2-10 KB for 256x256 faces (see module docstring).
    """

    codec: str = "vvc"
    quality: int = 29
    live: bool = False  # a live call's keyframes: the codec's real-time setting (ImageCodec.encode_live)

    @classmethod
    def default(cls, quality: int | None = None, codec: str | None = None) -> KeyframeConfig:
        """The measured default, with a user's quality/codec override where given.

        Without an explicit codec, falls back to the runner-up (AV1, in-process) when the
        FFmpeg binary has no VVenC, so encoding never fails on a missing optional encoder.
        """
        if codec is None:
            codec = cls.codec if CODECS[cls.codec].available() else FALLBACK_CODEC
        config = cls(codec=codec, quality=DEFAULT_QUALITY.get(codec, cls.quality))
        return config if quality is None else replace(config, quality=quality)

    @property
    def spec(self) -> ImageCodec:
        return codec_spec(self.codec)

    @property
    def proto_codec(self) -> int:
        return self.spec.proto


# Per-codec setting nearest 5 KB on 256x256 faces (benchmarks/results/keyframe_codecs.md).
DEFAULT_QUALITY: dict[str, int] = {"jpeg": 60, "webp": 90, "av1": 8, "hevc": 14, "vvc": 29, "jxl": 75}
FALLBACK_CODEC = "av1"  # 0.2 dB behind VVC at 5 KB, ~50 ms in-process instead of ~1-2 s through a subprocess


def codec_spec(codec: str | int) -> ImageCodec:
    """A codec by name ('vvc') or by its KeyframeCodec wire value."""
    spec = _BY_PROTO.get(codec) if isinstance(codec, int) else CODECS.get(codec)
    if spec is None:
        raise StreamError(
            f"keyframe codec {_codec_label(codec)} is not supported by this avfr (it knows {', '.join(CODECS)}): upgrade avfr or re-encode the stream"
        )
    return spec


def available_codecs() -> list[str]:
    return [name for name, spec in CODECS.items() if spec.available()]


def encode_keyframe(rgb: np.ndarray, config: KeyframeConfig | str | None = None, quality: int | None = None) -> bytes:
    """Code one ``[H, W, 3]`` uint8 RGB image.

    ``config`` is a :class:`KeyframeConfig` or a codec name (then ``quality`` or that
    codec's default quality applies). Widths/heights must be even (4:2:0 chroma).
    """
    if not isinstance(config, KeyframeConfig):
        config = KeyframeConfig.default(quality=quality, codec=config)
    elif quality is not None:
        config = replace(config, quality=quality)
    rgb = _check_rgb(rgb)
    spec = config.spec
    lo, hi = spec.quality_range
    if not lo <= config.quality <= hi:
        raise ValueError(f"{spec.name} quality must be in [{lo}, {hi}] ({spec.knob}), got {config.quality}")
    encode = spec.encode_live if config.live and spec.encode_live is not None else spec.encode
    return encode(rgb, int(config.quality))


def decode_keyframe(data: bytes, codec: str | int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Coded bytes -> ``[H, W, 3]`` uint8 RGB; any failure is a StreamError (the data came from a stream).

    ``size`` (height, width), when given, is checked against the header's frame size.
    """
    spec = codec_spec(codec)
    if not data:
        raise StreamError(f"the {spec.name} keyframe is empty: the stream is damaged")
    try:
        rgb = spec.decode(bytes(data))
    except StreamError:
        raise
    except Exception as err:  # decoders raise many types (av.FFmpegError, OSError, ValueError...)
        raise StreamError(f"the {spec.name} keyframe cannot be decoded ({_first_line(err)}): the stream is damaged") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or (size is not None and tuple(rgb.shape[:2]) != tuple(size)):
        raise StreamError(f"the {spec.name} keyframe decodes to {rgb.shape}, not {size} RGB: the stream is damaged")
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"keyframe must be [H, W, 3] uint8 RGB, got {rgb.dtype} {rgb.shape}")
    if rgb.shape[0] % 2 or rgb.shape[1] % 2:
        raise ValueError(f"keyframe sides must be even for 4:2:0 chroma, got {rgb.shape[1]}x{rgb.shape[0]}")
    return rgb


def _codec_label(codec: str | int) -> str:
    if isinstance(codec, int):
        try:
            return avfr_pb2.KeyframeCodec.Name(codec)
        except ValueError:
            return str(codec)
    return repr(codec)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:160] if text else type(err).__name__
