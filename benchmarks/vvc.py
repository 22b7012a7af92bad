"""The H.266/VVC anchor: VVenC through imageio-ffmpeg's FFmpeg, decoded by FFmpeg's own VVC decoder.

What it is meant to be: the fair conventional anchor for a talking-head codec (docs BRIEF
section 3): low delay, no future frames, one intra picture at the start and none after,
fixed QP per rate point, on the same 256x256 RGB face crops avfr's sender saw, scored on RGB
against those crops exactly as avfr's own output is scored.

Settings and why (checked against ``ffmpeg -h encoder=libvvenc`` and the encoder's verbose
config dump, VVenC 1.15.0-dev inside imageio-ffmpeg 0.8.1 / FFmpeg 9.0):

* ``-vvenc-params PicReordering=0:GOPSize=8:DecodingRefreshType=none``: low-delay B (every
  picture references only earlier ones; the dump shows ``PicReordering: 0``, ``Decoding
  refresh type: none with POC 0 IDR``), VVenC's counterpart of VTM's LDB configuration.
* ``-period`` (intra period in *seconds*, FFmpeg's default is 1 s!) set beyond the clip's
  duration: a single IDR, as VTM's ``IntraPeriod -1`` (``VVCConfig.intra_period_s`` = None).
  A period in seconds inserts intra pictures that often (low delay admits only
  ``DecodingRefreshType=none``, so they are not IRAPs): what a call would pay to let a
  receiver join or recover, and a setting :mod:`benchmarks.vvc_sweep` measures.
* GOP: VVenC's low-delay configuration exists for ``GOPSize=8`` only (1 is all-intra; 2, 4
  are refused; 16 and 32 fail in its temporal-layer set-up: "unexpected low delay temporal
  id", VVenC 1.15), so the low-delay structure's one choice left is the intra period.
* ``-qp`` fixed; VVenC still applies its per-GOP-position QP offsets (frames at base+1..+8),
  as VTM's LDB config does. ``-qpa 0``: FFmpeg turns VVenC's perceptual QP adaptation *on*
  by default; off is the JVET common-test-condition setting for PSNR-oriented anchors.
* ``AccessUnitDelimiter=0``: FFmpeg's wrapper forces AUD NAL units on; they cost ~6 bytes a
  frame (1.2 kbps at 25 fps, a third of the budget at the low end) and carry nothing a
  receiver of one elementary stream needs, so they are switched off (the vvenc-params are
  applied after the wrapper's defaults, so this override takes).
* preset ``faster`` by default (``fast`` and slower are available): see the benchmark notes
  for the measured speed. Which preset, intra period and QPA give VVenC its best curve on
  these clips is measured by ``python -m benchmarks.vvc_sweep`` (``vvc_anchor.md``); a
  weak anchor would flatter avfr.

Bitrate: bits = 8 x the size of the raw Annex-B ``.266`` elementary stream, i.e. every NAL
unit (VPS/SPS/PPS/APS, slices) with its 3/4-byte start code; no container. kbps =
bits / (frames / fps) / 1000; bpp = bits / (frames x width x height).

Colour: RGB -> Y'CbCr BT.601, limited ("tv") range, 4:2:0, 10-bit (``yuv420p10le``, the only
input VVenC takes), tagged as smpte170m/tv in the VUI, and back with the same matrix and
range; swscale with ``accurate_rnd+full_chroma_int``. This is what avfr's mp4 writer
(``codec.media.video_io``: swscale's BT.601 default, limited range) produces, so a decoded
VVC frame and an avfr frame went through the same colour pipeline, and the 4:2:0 round trip
is part of the anchor's loss (as it is for any real video codec).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from benchmarks.metrics.frames import Frames, as_batch
from codec.errors import AvfrError


class AnchorError(AvfrError):
    """FFmpeg is missing, lacks libvvenc / the native VVC decoder, or failed on a clip."""


PRESETS = ("faster", "fast", "medium", "slow", "slower")
LOW_DELAY_GOP_SIZES = (8,)  # what VVenC's low-delay configuration accepts (module docstring)


# The anchor's preset in benchmarks.rd: the best curve of benchmarks.vvc_sweep (vvc_anchor.md:
# BD-rate -14.9% LPIPS, -9.0% DISTS against faster; slower was no better and 4x slower again).
ANCHOR_PRESET = "slow"


@dataclass(frozen=True)
class VVCConfig:
    preset: str = "faster"  # libvvenc: faster, fast, medium, slow, slower
    fps: int = 25
    gop_size: int = 8
    intra_period_s: int | None = None  # None: one intra picture (the first); else one every this many seconds
    threads: int = 2
    perceptual_qpa: bool = False
    access_unit_delimiters: bool = False
    color_matrix: str = "bt601"
    color_range: str = "tv"
    sws_flags: str = "accurate_rnd+full_chroma_int"
    ffmpeg: str | None = None  # default: imageio_ffmpeg.get_ffmpeg_exe()

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise AnchorError(f"unknown VVenC preset {self.preset!r}: use one of {', '.join(PRESETS)}")
        if self.gop_size not in LOW_DELAY_GOP_SIZES:
            raise AnchorError(f"VVenC's low-delay GOP must be {LOW_DELAY_GOP_SIZES}, got {self.gop_size}")
        if self.intra_period_s is not None and self.intra_period_s < 1:
            raise AnchorError(f"the intra period is whole seconds (FFmpeg's -period), at least 1, got {self.intra_period_s}")

    def label(self) -> str:
        """The settings that tell anchors apart, for tables."""
        intra = "one intra" if self.intra_period_s is None else f"intra every {self.intra_period_s} s"
        return f"{self.preset}, low-delay B GOP {self.gop_size}, {intra}, QPA {'on' if self.perceptual_qpa else 'off'}"

    def executable(self) -> str:
        if self.ffmpeg:
            return self.ffmpeg
        try:
            import imageio_ffmpeg

            return imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError) as exc:
            raise AnchorError(f"no FFmpeg binary ({exc}); pip install imageio-ffmpeg>=0.8.1 or set VVCConfig.ffmpeg") from None


@dataclass
class VVCPoint:
    """One rate point: the stream's size and the frames a receiver would show.

    ``encode_fps`` / ``decode_fps`` are frames over the wall time of the whole FFmpeg process
    (start-up and the RGB <-> 10-bit 4:2:0 conversion included), with ``VVCConfig.threads``
    threads: an upper bound on the codec's own cost, tight for clips of a few hundred frames.
    """

    qp: int
    frames: int
    width: int
    height: int
    bytes: int
    kbps: float
    bpp: float
    encode_fps: float
    decode_fps: float
    decoded_frames: np.ndarray = field(repr=False)  # N x H x W x 3 uint8 RGB

    def summary(self) -> dict[str, float | int]:
        """Everything but the frames, for JSON results."""
        out = asdict(self)
        out.pop("decoded_frames")
        return out


def _run(cmd: list[str], stdin: bytes | None = None) -> tuple[bytes, float]:
    start = time.perf_counter()
    result = subprocess.run(cmd, input=stdin, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        last = (result.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise AnchorError(f"ffmpeg failed: {last}; check the input frames and that `{cmd[0]} -h encoder=libvvenc` works")
    return result.stdout, elapsed


def check_ffmpeg(config: VVCConfig = VVCConfig()) -> str:
    """The FFmpeg path, after checking it has libvvenc and the native ``vvc`` decoder."""
    exe = config.executable()
    if not shutil.which(exe) and not Path(exe).is_file():
        raise AnchorError(f"ffmpeg not found at {exe}; pip install imageio-ffmpeg>=0.6")
    encoders, _ = _run([exe, "-hide_banner", "-encoders"])
    decoders, _ = _run([exe, "-hide_banner", "-decoders"])
    if b" libvvenc " not in encoders:
        raise AnchorError(f"{exe} was built without libvvenc; use imageio-ffmpeg 0.8.1's FFmpeg or one built with --enable-libvvenc")
    if b" vvc " not in decoders:
        raise AnchorError(f"{exe} has no native VVC decoder; use FFmpeg >= 7.1")
    return exe


def _vvenc_params(config: VVCConfig) -> str:
    params = {
        "PicReordering": 0,
        "GOPSize": config.gop_size,
        "DecodingRefreshType": "none",
        "AccessUnitDelimiter": int(config.access_unit_delimiters),
    }
    return ":".join(f"{k}={v}" for k, v in params.items())


def encode_command(exe: str, width: int, height: int, frames: int, qp: int, out: Path, config: VVCConfig) -> list[str]:
    """The full FFmpeg command line (kept explicit so that a report can quote it)."""
    period_s = config.intra_period_s or math.ceil(frames / config.fps) + 1  # None: beyond the clip, one IDR only
    scale = f"scale=out_color_matrix={config.color_matrix}:out_range={config.color_range}:flags={config.sws_flags}"
    return [
        exe, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(config.fps), "-i", "pipe:0",
        "-vf", f"{scale},format=yuv420p10le",
        "-colorspace", "smpte170m" if config.color_matrix == "bt601" else config.color_matrix,
        "-color_range", config.color_range,
        "-c:v", "libvvenc", "-preset", config.preset, "-qp", str(qp), "-qpa", str(int(config.perceptual_qpa)),
        "-period", str(period_s), "-threads", str(config.threads),
        "-vvenc-params", _vvenc_params(config),
        "-f", "vvc", str(out),
    ]  # fmt: skip


def decode_command(exe: str, stream: Path, config: VVCConfig) -> list[str]:
    scale = f"scale=in_color_matrix={config.color_matrix}:in_range={config.color_range}:flags={config.sws_flags}"
    return [
        exe, "-hide_banner", "-loglevel", "error", "-threads", str(config.threads),
        "-c:v", "vvc", "-i", str(stream),
        "-vf", f"{scale},format=rgb24", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]  # fmt: skip


def _check_frames(frames: Frames) -> np.ndarray:
    batch = as_batch(frames)
    h, w = batch.shape[1:3]
    if h % 8 or w % 8:
        raise ValueError(f"VVenC needs frame sizes that are multiples of 8, got {w}x{h}; crop or pad first")
    return batch


def vvc_point(frames: Frames, qp: int, config: VVCConfig = VVCConfig()) -> VVCPoint:
    """Encode ``frames`` at one QP, decode, and measure size and speed."""
    batch = _check_frames(frames)
    n, h, w = batch.shape[:3]
    exe = config.executable()
    with tempfile.TemporaryDirectory(prefix="avfr-vvc-") as tmp:
        stream = Path(tmp) / f"qp{qp}.266"
        _, t_enc = _run(encode_command(exe, w, h, n, qp, stream, config), stdin=np.ascontiguousarray(batch).tobytes())
        size = stream.stat().st_size
        raw, t_dec = _run(decode_command(exe, stream, config))
    decoded = np.frombuffer(raw, np.uint8)
    if decoded.size % (h * w * 3):
        raise AnchorError(f"decoder returned {decoded.size} bytes, not whole {w}x{h} RGB frames")
    decoded = decoded.reshape(-1, h, w, 3)
    bits = 8 * size
    return VVCPoint(
        qp=qp,
        frames=n,
        width=w,
        height=h,
        bytes=size,
        kbps=bits / (n / config.fps) / 1000.0,
        bpp=bits / (n * w * h),
        encode_fps=n / t_enc,
        decode_fps=len(decoded) / t_dec,
        decoded_frames=decoded,
    )


def sweep(frames: Frames, qps: Iterable[int], config: VVCConfig = VVCConfig()) -> list[VVCPoint]:
    """One point per QP, e.g. ``range(22, 64, 5)`` for a rate-distortion curve."""
    batch = _check_frames(frames)
    return [vvc_point(batch, qp, config) for qp in qps]


def match_bpp(
    frames: Frames,
    target_bpp: float,
    config: VVCConfig = VVCConfig(),
    qp_range: tuple[int, int] = (10, 63),
    known: Iterable[VVCPoint] = (),
) -> VVCPoint:
    """The point whose bpp is closest to ``target_bpp`` (in ratio, |log(bpp/target)|).

    ``known``: points already encoded from these very frames with this config (a sweep),
    reused and not re-encoded. When two of them bracket the target, one encode does: log(bpp)
    is close to linear in QP between sweep points a few QPs apart, so the QP it predicts is
    encoded and the closest of the three wins (one QP step is ~12% of rate, so the match is
    within ~6% plus the interpolation error). Otherwise: bisection on the integer QP over
    ``qp_range`` (bpp falls as QP rises, up to noise of a few percent), about log2(range) + 2
    encodes. Closest in ratio rather than in absolute bpp because rate points are compared on
    log-rate axes (BD-rate); a target outside what ``qp_range`` reaches gets an end point.
    """
    batch = _check_frames(frames)
    tried: dict[int, VVCPoint] = {p.qp: p for p in known if p.frames == len(batch)}

    def at(qp: int) -> VVCPoint:
        if qp not in tried:
            tried[qp] = vvc_point(batch, qp, config)
        return tried[qp]

    below = [p for p in tried.values() if p.bpp >= target_bpp]  # lower QPs, more bits
    above = [p for p in tried.values() if p.bpp <= target_bpp]
    if below and above:
        lo, hi = max(below, key=lambda p: p.qp), min(above, key=lambda p: p.qp)
        if hi.qp - lo.qp > 1:
            span = math.log(lo.bpp) - math.log(hi.bpp)
            share = (math.log(lo.bpp) - math.log(target_bpp)) / span if span > 0 else 0.5
            at(int(round(lo.qp + share * (hi.qp - lo.qp))))
    else:
        lo_qp, hi_qp = qp_range
        while hi_qp - lo_qp > 1:
            mid = (lo_qp + hi_qp) // 2
            if at(mid).bpp > target_bpp:
                lo_qp = mid
            else:
                hi_qp = mid
        for qp in (lo_qp, hi_qp):
            at(qp)
    return min(tried.values(), key=lambda p: abs(math.log(max(p.bpp, 1e-12) / target_bpp)))
