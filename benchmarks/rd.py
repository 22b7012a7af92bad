"""Rate-distortion benchmark: avfr against H.266/VVC on the same face crops (issue 5).

    python -m benchmarks.rd [--data DIR] [--clips N] [--max-frames 250] [--qps 37,42,...]
                            [--model FILE] [--metric-stride 20] [--slow-metric-stride 100]
                            [--out benchmarks/results] [--name dev] [--smoke] [--force]
                            [--resume] [--work out/rd-<name>]
    avfr bench ...                     (the same arguments)

Conditions (JVET generative-face-video style, docs BRIEF section 3): 256x256 face crops at
25 fps, up to 250 frames per clip, same-identity reconstruction with the first sent frame as
the keyframe. The reference is exactly what avfr's sender saw: the tracker's
``crop_size_for(model size)`` = 256 px crops, handed over in memory by
``encode_file(on_crop=...)``. VVC codes those very frames (:mod:`benchmarks.vvc`: VVenC
low-delay B, one IDR), so both codecs are scored against identical pixels.

Codec points per clip:

* ``avfr``: the clip encoded to .avfr and decoded by the receiver
  (``receiver.decoder.open_stream``, the code path of ``decode_file``). The default model
  (light-256) renders 256 px; a smaller model's frames (light-128: 128 px) are upsampled to 256
  with bicubic (the receiver's own ``codec.model_input.resize_rgb``, the one resize) before scoring. Bits: see
  *Bit accounting*.
* ``repeat-keyframe``: the zero-motion floor: the receiver's decoded keyframe (upsampled the
  same way) shown for every frame; bits = the keyframe's coded bytes only.
* ``avfr-<preset>``: avfr's own curve, one point per encoder preset (``sender/presets.py``,
  ``--avfr-presets``), each its own sender pass with the preset's settings (the defaults'
  preset reuses the ``avfr`` stream).
* ``vvc-qpNN``: one per ``--qps``; ``vvc-match``: ``benchmarks.vvc.match_bpp`` at avfr's video
  bpp for that clip, searched between the sweep's QPs that bracket it.

Curves (:mod:`benchmarks.bdrate`): BD-rate of the avfr preset curve against the VVC QP sweep
on LPIPS, DISTS and PSNR, per clip and then the mean over clips (the JVET common-test-
condition way), and on the mean curve; the crossover rate, the highest rate at which avfr
is still better than VVC, on the mean curves. Both are in the table and on the plots.

Whole-call bits: beside the video kbit/s each avfr point reports its keyframes, motion,
speech (Opus payload) and container (all framing: the video records' and the speech's)
kbit/s and the total a call's file needs; a VVC call would carry the same speech, so VVC
points get "total with speech" = video + the avfr stream's speech and its framing.

Bit accounting (avfr): ``codec.bitstream.info.describe_file`` splits the file into keyframes,
motion, audio (Opus payload) and overhead. The overhead also holds the audio packets' framing
(varint length, CRC32, protobuf tags, timestamps) and the header's audio fields; both are
recomputed exactly here by re-serialising those records and moved to audio. So
``video bytes = keyframes + motion + overhead - audio framing`` and
``video + audio payload + audio framing = file size``. Video bpp is over the 256x256 frames
scored (both codecs), not the model's 128 px. VVC bits are the raw .266 stream (no audio).

Metrics: PSNR (RGB, every frame); SSIM, LPIPS-Alex, SFace identity cosine, MediaPipe landmark
NME on every ``--metric-stride``-th frame; DISTS on every ``--slow-metric-stride``-th frame;
FID per codec point over the whole set, on every ``--fid-stride``-th frame of all clips (6:
~545 frames on the dev set; a point with fewer than ``MIN_COMPARABLE_FRAMES`` = 500 is
marked not comparable), with its 95% interval by bootstrap over the frames
(``benchmarks.metrics.fid.fid_interval``). Per point, a metric is
the mean over clips of the per-clip means (JVET's per-sequence average); kbps likewise.
Speed: avfr enc fps = sent frames / encode loop time (face tracking, priors, keypoints,
packetising; model load excluded); avfr dec fps = frames / render loop time (keyframe priors,
generator, upsampling; model load and the audio pass excluded). VVC fps are whole FFmpeg
processes (start-up and colour conversion included). All with ``--threads`` threads (2).

Resuming: each finished clip's record, FID features and costs are kept in ``--work``
(:mod:`benchmarks.clip_store`); after a stop, the same command with ``--resume`` takes back
every clip whose settings, model and clip file still match and runs only the rest. The
timing then adds the resumed clips' measured costs (``resumed_clips``, ``resumed_s``).

Run time: a full dev run (21 clips, 3273 frames at 25 fps capped at 250) costs one sender
pass and two avfr decodes per frame (avfr-1key reuses the avfr decode when no refresh fired;
the receiver renders 8 frames per network call), 6 VVC encodes per frame (5 QPs + the matched
point, whose QP is predicted from the two sweep points that bracket avfr's rate) and the
metrics of 10 points per clip (SSIM, LPIPS, identity, landmarks on 1 in 20 frames; DISTS and
FID features on 1 in 100; the reference side of identity, landmarks and DISTS computed once
per frame). Each run's JSON ``timing`` holds its measured per-stage seconds and
``projected_full_dev_s``, the projection of a full run from that run's own per-unit costs
(short runs include warm-up, so it errs high). Measured here: the committed ``rd-dev`` (before the
preset curve) took 1749 s (29 min) on the 2 cores, 48% of it in VVenC. The curve adds a
sender pass and a decode per frame for each preset but the defaults' (4 x ~0.09 s a frame:
~19 min), one QP (32), the metrics of 5 more points, and FID on 1 in 6 frames instead of 1
in 100 (~545 frames x 16 sets x 0.14 s: ~20 min): ~75 min in all, projected from those costs. Run it on an otherwise idle machine:
with two threads, any other process on the two cores slows PyTorch's OpenMP loops many times
over.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from benchmarks import vvc
from benchmarks.bdrate import Curve, bd_quality, bd_rate, crossover
from benchmarks.clip_store import ClipStore, StoredClip
from benchmarks.metrics.frames import as_batch
from benchmarks.metrics.psnr import psnr_frames
from benchmarks.provenance import git_state, machine, package_versions
from codec.bitstream.container import AvfrReader
from codec.bitstream.info import describe_file
from codec.errors import AvfrError, InputError, Interrupted
from codec.face_measures import FaceMeasures, FaceTrack, mean_over_clips
from codec.progress import progress_bar
from codec.zoo import DEFAULT_MODEL
from proto import avfr_pb2

if TYPE_CHECKING:
    from sender.presets import EncodeSettings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "talking-heads" / "dev"
VIDEO_SUFFIXES = (".mp4", ".mpg", ".webm", ".mov", ".mkv", ".avi")
METRICS = ("psnr", "ssim", "lpips", "dists", "fid", "identity", "lmd")
CALL_FIELDS = ("keyframes_kbps", "motion_kbps", "speech_kbps", "speech_framing_kbps", "container_kbps", "total_kbps", "total_with_speech_kbps")
FACE_METRICS = ("mouth_corr", "mouth_amplitude_ratio", "eye_corr", "mouth_lpips")  # codec.face_measures, on every frame
BD_METRICS = {"lpips": True, "dists": True, "psnr": False}  # metric -> lower is better; BD-rate and crossover on these
PRESET_PREFIX = "avfr-"  # avfr-<preset>: one point of avfr's curve per sender/presets.py preset
FULL_DEV = {"clips": 21, "frames": 3273}  # the dev set at 25 fps, 250 frames at most per clip


@dataclass
class RDConfig:
    """Everything a run depends on; written to the JSON so a result says how it was made."""

    data: Path = DEFAULT_DATA
    out: Path = REPO / "benchmarks" / "results"
    name: str | None = None  # default: the data folder's name ("dev"), or "smoke"
    clips: int | None = None
    max_frames: int = 250
    fps: float = 25.0
    size: int = 256
    qps: tuple[int, ...] = (32, 37, 42, 47, 52, 63)  # ~3-30 kbps here; vvc-match fills in at avfr's rate
    presets: tuple[str, ...] = field(default_factory=lambda: tuple(_preset_names()))  # avfr's curve
    match_bpp: bool = True
    model: Path | None = None
    metric_stride: int = 20
    slow_metric_stride: int = 100
    fid_stride: int = 6  # FID features on every n-th frame: ~545 on the dev set, >= MIN_COMPARABLE_FRAMES
    fid_resamples: int = 200  # bootstrap resamples for FID's interval
    threads: int = 2
    decode_batch: int = 8  # avfr frames rendered per network call (receiver.decoder.DecodeOptions.batch_size)
    force: bool = False
    progress: bool = True
    keep_streams: Path | None = None  # keep the .avfr files here (default: a temp dir, removed)
    work: Path | None = None  # each finished clip's result, for --resume (default out/rd-<name>, git-ignored)
    resume: bool = False  # take back the clips an interrupted run of the same settings finished
    silence: bool = True  # also decode the default avfr stream with silence for its speech (face measures only)
    vvc: vvc.VVCConfig = field(default_factory=lambda: vvc.VVCConfig(preset=vvc.ANCHOR_PRESET))

    def __post_init__(self) -> None:
        # ``threads`` is the one knob for both codecs: VVenC at other threads than avfr would
        # make the encode-time columns compare unlike machines.
        if self.vvc.threads != self.threads:
            self.vvc = replace(self.vvc, threads=self.threads)

    @classmethod
    def smoke(cls, **overrides: object) -> "RDConfig":
        """What CI runs: 2 clips x 12 frames, 2 QPs, every metric on enough frames to exist."""
        base = dict(name="smoke", clips=2, max_frames=12, qps=(37, 52), metric_stride=2, slow_metric_stride=6, fid_stride=3,
                    presets=("2k", "30k"), fid_resamples=20, vvc=vvc.VVCConfig())  # fmt: skip
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)  # type: ignore[arg-type]

    @property
    def run_name(self) -> str:
        return self.name or self.data.name or "rd"

    @property
    def work_dir(self) -> Path:
        return self.work or REPO / "out" / f"rd-{self.run_name}"

    def result_settings(self) -> dict[str, object]:
        """What a clip's scores depend on: a stored clip is reused only when these match. Beside
        the settings: the model file, what each preset does (the table in sender/presets.py
        changes with measurement), the FFmpeg/VVenC build and the container version. Where results go, how many clips
        run, the progress bar and the FID bootstrap (run over the stored features at the end)
        do not change a clip's scores. The code's version is not matched (a docs commit would
        void a run of hours); a resumed run lists the commits that made its clips instead."""
        from codec.bitstream.container import FORMAT_VERSION
        from codec.zoo import cached_sha256, default_model_path

        skip = {"data", "out", "name", "clips", "force", "progress", "keep_streams", "work", "resume", "fid_resamples"}
        settings = {k: v for k, v in asdict(self).items() if k not in skip}
        settings["model"] = cached_sha256(Path(self.model or default_model_path()))
        settings["preset_settings"] = preset_labels(self.presets)
        settings["ffmpeg"] = ffmpeg_version(self)
        settings["container_version"] = FORMAT_VERSION  # the file's framing is in every avfr rate
        return settings


def _preset_names() -> list[str]:
    from sender.presets import PRESETS

    return list(PRESETS)


# --------------------------------------------------------------------------- avfr side


@dataclass
class AvfrBits:
    """Where every byte of one .avfr file went, with the audio's framing moved to audio."""

    file_bytes: int
    keyframes: int
    motion: int
    overhead: int  # describe_file's overhead (includes the audio framing)
    audio_payload: int
    audio_framing: int  # audio records' framing + header audio fields, exact

    @property
    def video_bytes(self) -> int:
        return self.keyframes + self.motion + self.overhead - self.audio_framing


def avfr_bits(path: Path) -> AvfrBits:
    """Bit split of a stream (``describe_file`` counts the audio framing exactly)."""
    info = describe_file(path)
    if not info.complete:
        raise AvfrError(f"{path}: {info.stopped_at}: a damaged stream cannot be scored")
    b = info.bytes
    return AvfrBits(info.file_bytes, b["keyframes"], b["motion"], b["overhead"], b["audio"], info.audio_framing)


@dataclass
class AvfrDecoded:
    """One motion mode's stream, decoded."""

    decoded: np.ndarray  # N x 256 x 256 x 3, the receiver's frames, bicubic-upsampled
    bits: AvfrBits
    encode_s: float
    decode_s: float
    decode_setup_s: float
    silent: np.ndarray | None = None  # the same stream rendered with silence for its speech (None: not made, or no speech)


@dataclass
class AvfrRun:
    reference: np.ndarray  # N x 256 x 256 x 3, the crops the sender saw
    keyframe: np.ndarray  # 256 x 256 x 3, the receiver's decoded first keyframe, upsampled
    keyframe_bytes: int  # its coded size: all that "repeat the keyframe" sends
    modes: dict[str, AvfrDecoded]  # point name -> its stream decoded ("avfr" = the default mode)
    notes: list[str]


@dataclass(frozen=True)
class AvfrMode:
    coding: int
    refresh: bool  # keep the sender's keyframe refreshes (False: the first keyframe only, as the paper)


# Point name -> how its stream is made from the one sender pass. "avfr" is the default mode.
AVFR_MODES = {
    "avfr": AvfrMode(avfr_pb2.MOTION_CODING_COMPACT, refresh=True),
    "avfr-1key": AvfrMode(avfr_pb2.MOTION_CODING_COMPACT, refresh=False),
    "avfr-raw": AvfrMode(avfr_pb2.MOTION_CODING_RAW_FP16, refresh=False),
}


def run_avfr(clip: Path, cfg: RDConfig, workdir: Path) -> AvfrRun:
    """Encode a clip once in raw mode with keyframe refresh (collecting the reference crops),
    derive each mode's stream with ``transcode_motion`` (same keypoints, no second sender pass:
    motion re-coded, refresh keyframes kept or dropped), measure its bits, decode it in memory."""
    from codec.bitstream.transcode import transcode_motion
    from codec.media.keyframe import decode_keyframe
    from codec.model_input import resize_rgb
    from sender.encoder import EncodeOptions, encode_file

    crops: list[np.ndarray] = []
    raw_stream = workdir / f"{clip.stem}.sent.avfr"
    options = EncodeOptions(model_path=cfg.model, fps=cfg.fps, max_frames=cfg.max_frames, motion_coding="raw")
    enc = encode_file(clip, raw_stream, options, progress=False, on_crop=crops.append)
    reference = np.stack([_to_size(c, cfg.size) for c in crops])
    modes: dict[str, AvfrDecoded] = {}
    notes = enc.summary().splitlines()[1:]
    decoded_by_content: dict[bytes, AvfrDecoded] = {}
    for name, mode in AVFR_MODES.items():
        stream = workdir / f"{clip.stem}.{name}.avfr"
        started = time.perf_counter()
        transcode_motion(raw_stream, stream, mode.coding, overwrite=True, first_keyframe_only=not mode.refresh)
        encode_s = enc.seconds + time.perf_counter() - started
        content = stream.read_bytes()
        if content in decoded_by_content:  # e.g. avfr-1key when no refresh fired: the very same stream
            modes[name] = replace(decoded_by_content[content], encode_s=encode_s)
            continue
        modes[name] = decoded_by_content[content] = _decode_stream(stream, cfg, len(reference), encode_s, notes, silence=cfg.silence and name == "avfr")
    key = next(p.keyframe for p in AvfrReader(raw_stream) if p.HasField("keyframe"))  # the first
    keyframe = resize_rgb(decode_keyframe(key.data, key.codec), cfg.size)
    return AvfrRun(reference, keyframe, len(key.data), modes, notes)


def sender_crops(clip: Path, model: Path | None = None, fps: float = 25.0, max_frames: int | None = None, size: int = 256) -> np.ndarray:
    """The sender's face crops of a clip, the reference every codec is scored against (one
    sender pass without refresh, its stream thrown away)."""
    from sender.encoder import EncodeOptions, encode_file
    from sender.refresh import RefreshConfig

    crops: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix="avfr-crops-") as tmp:
        options = EncodeOptions(model_path=model, fps=fps, max_frames=max_frames, refresh=RefreshConfig(enabled=False))
        encode_file(clip, Path(tmp) / "crops.avfr", options, progress=False, on_crop=crops.append)
    return np.stack([_to_size(c, size) for c in crops])


def run_settings(clip: Path, label: str, settings: "EncodeSettings", cfg: RDConfig, reference: np.ndarray, workdir: Path,
                 notes: list[str]) -> AvfrDecoded:  # fmt: skip
    """One sender pass with these encode settings, decoded; its crops must be the reference's."""
    from sender.encoder import encode_file

    crops: list[np.ndarray] = []
    stream = workdir / f"{clip.stem}.{label}.avfr"
    options = settings.options(model_path=cfg.model, fps=cfg.fps, max_frames=cfg.max_frames)
    enc = encode_file(clip, stream, options, progress=False, on_crop=crops.append)
    if len(crops) != len(reference) or not np.array_equal(_to_size(crops[-1], cfg.size), reference[-1]):
        raise AvfrError(f"{clip.name}: {label}'s sender saw other face crops than the reference: the tracker is not deterministic")
    notes += [f"{label}: {line}" for line in enc.summary().splitlines()[1:]]
    return _decode_stream(stream, cfg, len(reference), enc.seconds, notes)


def _decode_stream(stream: Path, cfg: RDConfig, expected: int, encode_s: float, notes: list[str], silence: bool = False) -> AvfrDecoded:
    """The receiver's frames; with ``silence`` and a stream with speech, also the frames the
    same receiver renders with the speech replaced by silence (what the audio path is worth)."""
    from receiver.decoder import DecodeOptions, DecodeReport, open_stream

    started = time.perf_counter()
    session = open_stream(stream, DecodeOptions(model_path=cfg.model, device="cpu", batch_size=cfg.decode_batch))
    setup = time.perf_counter() - started
    report = DecodeReport(output=stream)
    started = time.perf_counter()
    decoded = np.stack(list(session.frames(report, cfg.size, cfg.decode_batch)))
    decode_s = time.perf_counter() - started
    if len(decoded) != expected:
        raise AvfrError(f"{stream.name}: {len(decoded)} decoded frames for {expected} sent ({report.stopped_at})")
    notes += [f"decode {stream.name}: {n}" for n in report.notes]
    silent = None
    if silence and session.pcm is not None:
        silent_session = replace(session, pcm=None)
        silent = np.stack(list(silent_session.frames(DecodeReport(output=stream), cfg.size, cfg.decode_batch)))
    return AvfrDecoded(decoded, avfr_bits(stream), encode_s, decode_s, setup, silent)


def _to_size(crop: np.ndarray, size: int) -> np.ndarray:
    from codec.model_input import resize_rgb

    return resize_rgb(crop, size)  # a no-op for the 256 px crops of every shipped model


# --------------------------------------------------------------------------- metrics


class Scorer:
    """Holds every metric network once per run, and the FID features per codec point."""

    def __init__(self, cfg: RDConfig) -> None:
        from benchmarks.metrics.dists import DISTSMetric
        from benchmarks.metrics.fid import InceptionFeatures
        from benchmarks.metrics.identity import SFaceIdentity
        from benchmarks.metrics.landmarks import LandmarkDistance
        from benchmarks.metrics.lpips import LPIPSMetric

        self.cfg = cfg
        self.lpips, self.dists = LPIPSMetric(), DISTSMetric()
        self.identity, self.landmarks = SFaceIdentity(), LandmarkDistance()
        self.inception = InceptionFeatures()
        self.faces = FaceMeasures(self.lpips.net)
        self.real_face: tuple[np.ndarray, FaceTrack] | None = None  # the current clip's reference, tracked once
        self.features: dict[str, list[np.ndarray]] = {}
        self.seconds: dict[str, float] = {m: 0.0 for m in METRICS + ("face",)}
        self.frames: dict[str, int] = {m: 0 for m in METRICS + ("face",)}  # frames (pairs) each metric has scored

    def _timed(self, name: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
        started = time.perf_counter()
        out = fn()
        self.seconds[name] += time.perf_counter() - started
        self.frames[name] += len(out)
        return out

    def reference_features(self, reference: np.ndarray) -> None:
        """Once per clip: the reference's FID features, and its face track for the face measures."""
        self.add_features("reference", reference)
        started = time.perf_counter()
        self.real_face = (reference, self.faces.track(reference[1:]))
        self.seconds["face"] += time.perf_counter() - started

    def face(self, reference: np.ndarray, decoded: np.ndarray) -> dict[str, float | None]:
        """Mouth and eye measures (``FACE_METRICS``) on every frame after the first (the keyframe
        itself, which every codec point reproduces), tracked as a series."""
        if self.real_face is None or self.real_face[0] is not reference:
            self.reference_features(reference)
        track = self.real_face[1]
        started = time.perf_counter()
        summary = self.faces.compare(reference[1:], track, decoded[1:]).summary()
        self.seconds["face"] += time.perf_counter() - started
        self.frames["face"] += len(decoded) - 1
        return {m: summary[m] for m in FACE_METRICS}

    def add_features(self, key: str, frames: np.ndarray) -> None:
        f = self._timed("fid", lambda: self.inception(frames[sampled(self.cfg.fid_stride)]))
        self.features.setdefault(key, []).append(f)

    def score(self, key: str, reference: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
        """Per-clip means of every per-frame metric; FID features kept for :meth:`fid`."""
        ref, dec = as_batch(reference), as_batch(decoded)
        s, slow = sampled(self.cfg.metric_stride), sampled(self.cfg.slow_metric_stride)
        from benchmarks.metrics.ssim import ssim

        per_frame = {
            "psnr": self._timed("psnr", lambda: psnr_frames(ref, dec)),
            "ssim": self._timed("ssim", lambda: ssim(ref[s], dec[s])),
            "lpips": self._timed("lpips", lambda: self.lpips(ref[s], dec[s])),
            "dists": self._timed("dists", lambda: self.dists(ref[slow], dec[slow])),
            "identity": self._timed("identity", lambda: self.identity(ref[s], dec[s])),
            "lmd": self._timed("lmd", lambda: self.landmarks(ref[s], dec[s])),
        }
        self.add_features(key, dec)
        return {m: _mean(v) for m, v in per_frame.items()} | self.face(reference, decoded)

    def fid(self, key: str) -> dict[str, object]:
        """FID over the set, its bootstrap interval (frames paired with their references) and
        whether it has the frames to be compared (``MIN_COMPARABLE_FRAMES``)."""
        from benchmarks.metrics.fid import MIN_COMPARABLE_FRAMES, fid_from_features, fid_interval

        ref, dec = self.features.get("reference"), self.features.get(key)
        out: dict[str, object] = {"fid": None, "fid_interval": None, "fid_frames": 0, "fid_comparable": False}
        if not ref or not dec:
            return out
        a, b = np.concatenate(ref), np.concatenate(dec)
        if min(len(a), len(b)) < 2:
            return out
        out |= {"fid": fid_from_features(a, b), "fid_frames": len(b), "fid_comparable": len(b) >= MIN_COMPARABLE_FRAMES}
        if len(a) == len(b) and self.cfg.fid_resamples:
            out["fid_interval"] = list(fid_interval(a, b, self.cfg.fid_resamples))
        return out

    def close(self) -> None:
        self.landmarks.close()


class CurveScores:
    """The BD-rate metrics alone (LPIPS and DISTS on a stride, PSNR on every frame), for the
    sweeps that compare many settings' curves (benchmarks.presets, benchmarks.vvc_sweep)."""

    def __init__(self, stride: int) -> None:
        from benchmarks.metrics.dists import DISTSMetric
        from benchmarks.metrics.lpips import LPIPSMetric

        self.stride, self.lpips, self.dists = stride, LPIPSMetric(), DISTSMetric()

    def __call__(self, reference: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
        s = sampled(self.stride)
        return {"psnr": _mean(psnr_frames(reference, decoded)), "lpips": _mean(self.lpips(reference[s], decoded[s])),
                "dists": _mean(self.dists(reference[s], decoded[s]))}  # fmt: skip


def sampled(stride: int) -> slice:
    """Every ``stride``-th frame, starting half a stride in.

    Not from frame 0: that frame is the keyframe itself, which avfr and "repeat the keyframe"
    reproduce almost exactly, so a sample that starts there flatters them (a 50-frame clip at
    stride 50 would be scored on the keyframe alone).
    """
    return slice(stride // 2, None, stride)


def _mean(values: np.ndarray) -> float | None:
    """Mean over frames with a value (NaN: no face; inf: identical frame, PSNR capped at 99)."""
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isposinf(v), 99.0, v)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


# --------------------------------------------------------------------------- one clip


def point_record(kind: str, bits: int, frames: int, cfg: RDConfig, **extra: object) -> dict:
    """Rate fields of one codec point; bpp over the scored 256x256 frames."""
    seconds = frames / cfg.fps
    return {
        "codec": kind,
        "frames": frames,
        "video_bits": bits,
        "kbps": bits / seconds / 1000.0,
        "bpp": bits / (frames * cfg.size * cfg.size),
        **extra,
    }


def vvc_commands(point: vvc.VVCPoint, cfg: RDConfig) -> dict[str, str]:
    """The exact FFmpeg command lines of a point, the temp path shown as ``qpNN.266``."""
    exe, out = cfg.vvc.executable(), Path(f"qp{point.qp}.266")
    return {
        "encode": shlex.join(vvc.encode_command(exe, point.width, point.height, point.frames, point.qp, out, cfg.vvc)),
        "decode": shlex.join(vvc.decode_command(exe, out, cfg.vvc)),
    }


def match_range(points: list[vvc.VVCPoint], target_bpp: float) -> tuple[int, int]:
    """The two sweep QPs that bracket ``target_bpp``: match_bpp's bisection then needs ~3 encodes."""
    by_qp = sorted(points, key=lambda p: p.qp)
    lo, hi = max(10, by_qp[0].qp - 16), 63
    for p in by_qp:
        if p.bpp > target_bpp:
            lo = p.qp
        else:
            hi = p.qp
            break
    return lo, max(hi, lo + 1)


def bench_clip(clip: Path, cfg: RDConfig, scorer: Scorer, tick: Callable[[str], None], timing: dict[str, float]) -> dict:
    """Every codec point of one clip, scored; ``tick`` advances the progress bar per point."""
    with tempfile.TemporaryDirectory(prefix="avfr-rd-") as tmp:
        workdir = cfg.keep_streams or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        run = run_avfr(clip, cfg, workdir)
        timing["avfr_s"] += time.perf_counter() - started
    n = len(run.reference)
    scorer.reference_features(run.reference)
    points: dict[str, dict] = {}
    modes = dict(run.modes)
    started = time.perf_counter()
    modes |= preset_streams(clip, cfg, run, workdir_for_presets(cfg))
    timing["presets_s"] += time.perf_counter() - started
    for name, mode in modes.items():
        b = mode.bits
        points[name] = point_record(
            "avfr", 8 * b.video_bytes, n, cfg,
            encode_fps=n / max(mode.encode_s, 1e-9), decode_fps=n / max(mode.decode_s, 1e-9),
            decode_setup_s=mode.decode_setup_s, bytes=asdict(b) | {"video": b.video_bytes},
            audio_kbps=8 * (b.audio_payload + b.audio_framing) / (n / cfg.fps) / 1000.0,
            motion_bits_per_frame=8 * b.motion / n, **call_kbps(b, n / cfg.fps),
            **scorer.score(name, run.reference, mode.decoded),
        )  # fmt: skip
        if mode.silent is not None:
            points[name] |= {f"{m}_without_speech": v for m, v in scorer.face(run.reference, mode.silent).items()}
        tick(name)
    repeat = np.repeat(run.keyframe[None], n, axis=0)
    points["repeat-keyframe"] = point_record(
        "repeat-keyframe", 8 * run.keyframe_bytes, n, cfg, encode_fps=None, decode_fps=None, **scorer.score("repeat-keyframe", run.reference, repeat)
    )
    tick("repeat-keyframe")
    sweep: list[vvc.VVCPoint] = []
    for qp in cfg.qps:
        started = time.perf_counter()
        p = vvc.vvc_point(run.reference, qp, cfg.vvc)
        timing["vvc_sweep_s"] += time.perf_counter() - started
        timing["vvc_sweep_frames"] += n
        sweep.append(p)
        points[f"vvc-qp{qp}"] = _vvc_record(p, cfg, scorer.score(f"vvc-qp{qp}", run.reference, p.decoded_frames))
        tick(f"vvc-qp{qp}")
    if cfg.match_bpp:
        target = points["avfr"]["bpp"]
        started = time.perf_counter()
        p = vvc.match_bpp(run.reference, target, cfg.vvc, qp_range=match_range(sweep, target), known=sweep)
        timing["vvc_s"] += time.perf_counter() - started
        points["vvc-match"] = _vvc_record(p, cfg, scorer.score("vvc-match", run.reference, p.decoded_frames), target_bpp=target)
        tick("vvc-match")
    speech = points["avfr"]["speech_kbps"] + points["avfr"]["speech_framing_kbps"]
    for key, point in points.items():
        if point["codec"] == "vvc":
            point["total_with_speech_kbps"] = point["kbps"] + speech
    return {"clip": clip.name, "frames": n, "notes": run.notes, "points": points}


def _counters(scorer: Scorer, timing: dict[str, float]) -> dict[str, dict[str, float]]:
    return {"timing": dict(timing), "metric_seconds": dict(scorer.seconds), "metric_frames": dict(scorer.frames)}


def bench_and_store(
    clip: Path, cfg: RDConfig, scorer: Scorer, tick: Callable[[str], None], timing: dict[str, float], store: ClipStore, code: dict
) -> StoredClip:
    """:func:`bench_clip`, then the clip's record, FID features and costs written to ``store``
    at once, so an interruption later in the run loses nothing of this clip."""
    before, started = _counters(scorer, timing), time.perf_counter()
    n_features = {k: len(v) for k, v in scorer.features.items()}
    record = bench_clip(clip, cfg, scorer, tick, timing)
    after = _counters(scorer, timing)
    costs = {part: {k: v - before[part].get(k, 0) for k, v in after[part].items() if k not in ("resumed_clips", "resumed_s")} for part in after}
    costs["timing"]["wall_s"] = time.perf_counter() - started
    costs["made_at"] = {"git_commit": code.get("commit"), "dirty": code.get("dirty")}
    features = {k: np.concatenate(v[n_features.get(k, 0) :]) for k, v in scorer.features.items() if len(v) > n_features.get(k, 0)}
    stored = StoredClip(record, features, costs)
    store.save(clip, stored)
    return stored


def restore_clip(stored: StoredClip, scorer: Scorer, timing: dict[str, float]) -> None:
    """A stored clip back into the run: its FID features in clip order (so references and
    decoded frames stay paired for the bootstrap) and its costs into the run's timing."""
    for key, features in stored.features.items():
        scorer.features.setdefault(key, []).append(features)
    for key, seconds in stored.costs.get("metric_seconds", {}).items():
        scorer.seconds[key] = scorer.seconds.get(key, 0.0) + seconds
    for key, frames in stored.costs.get("metric_frames", {}).items():
        scorer.frames[key] = scorer.frames.get(key, 0) + int(frames)
    for key, value in stored.costs.get("timing", {}).items():
        if key != "wall_s":
            timing[key] = timing.get(key, 0.0) + value
    timing["resumed_clips"] += 1
    timing["resumed_s"] += stored.costs.get("timing", {}).get("wall_s", 0.0)


def call_kbps(bits: AvfrBits, seconds: float) -> dict[str, float]:
    """Whole-call split of one stream: what the keyframes, motion, speech (Opus payload) and
    container (all framing) cost, and the file's total, in kbit/s."""
    k = lambda n: 8 * n / seconds / 1000.0  # noqa: E731
    return {"keyframes_kbps": k(bits.keyframes), "motion_kbps": k(bits.motion), "speech_kbps": k(bits.audio_payload),
            "speech_framing_kbps": k(bits.audio_framing), "container_kbps": k(bits.overhead), "total_kbps": k(bits.file_bytes)}  # fmt: skip


def preset_labels(names: Sequence[str]) -> dict[str, str]:
    """What each preset of the curve was when the run was made (the table changes with measurement)."""
    from sender.presets import preset

    return {name: preset(name).settings.label() for name in names}


def workdir_for_presets(cfg: RDConfig) -> Path:
    if cfg.keep_streams is not None:
        cfg.keep_streams.mkdir(parents=True, exist_ok=True)
        return cfg.keep_streams
    return Path(tempfile.mkdtemp(prefix="avfr-rd-presets-"))


def preset_streams(clip: Path, cfg: RDConfig, run: AvfrRun, workdir: Path) -> dict[str, AvfrDecoded]:
    """avfr's curve on this clip: one point per preset; the defaults' preset is the avfr point."""
    from sender.presets import EncodeSettings, preset

    out = {}
    try:
        for name in cfg.presets:
            if preset(name).settings == EncodeSettings():
                out[PRESET_PREFIX + name] = run.modes["avfr"]
                run.notes.append(f"preset {name} = the defaults: its point is the avfr stream")
            else:
                out[PRESET_PREFIX + name] = run_settings(clip, PRESET_PREFIX + name, preset(name).settings, cfg, run.reference, workdir, run.notes)
    finally:
        if cfg.keep_streams is None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return out


def _vvc_record(p: vvc.VVCPoint, cfg: RDConfig, scores: dict[str, float], **extra: object) -> dict:
    return point_record(
        "vvc", 8 * p.bytes, p.frames, cfg, qp=p.qp, encode_fps=p.encode_fps, decode_fps=p.decode_fps,
        commands=vvc_commands(p, cfg), **extra, **scores,
    )  # fmt: skip


# --------------------------------------------------------------------------- aggregate and report


def aggregate(clips: list[dict], scorer: Scorer) -> dict[str, dict]:
    """Per point: clip means of kbps, bpp and metrics; fps over all frames; FID over the set."""
    keys = list(dict.fromkeys(k for c in clips for k in c["points"]))
    out: dict[str, dict] = {}
    for key in keys:
        rows = [c["points"][key] for c in clips if key in c["points"]]
        agg: dict[str, object] = {"clips": len(rows), "frames": sum(r["frames"] for r in rows)}
        for m in ("kbps", "bpp") + tuple(m for m in METRICS if m != "fid") + FACE_METRICS + CALL_FIELDS:
            vals = [r[m] for r in rows if r.get(m) is not None]
            agg[m] = float(np.mean(vals)) if vals else None
        with_silence = [r for r in rows if "mouth_lpips_without_speech" in r]
        if with_silence:  # the clips with speech, rendered both ways: compare on the same clips
            agg["speech_clips"] = len(with_silence)
            agg |= {f"speech_clips_{k}": v for k, v in mean_over_clips(with_silence, FACE_METRICS).items() if not k.endswith("_clips")}
            agg |= {f"speech_clips_{k}": v for k, v in mean_over_clips(with_silence, FACE_METRICS, "_without_speech").items() if not k.endswith("_clips")}
        for speed in ("encode_fps", "decode_fps"):
            secs = [r["frames"] / r[speed] for r in rows if r.get(speed)]
            agg[speed] = agg["frames"] / sum(secs) if secs and len(secs) == len(rows) else None
        agg |= scorer.fid(key)
        if rows[0]["codec"] == "avfr":
            agg["audio_kbps"] = float(np.mean([r["audio_kbps"] for r in rows]))
            agg["motion_bits_per_frame"] = float(np.average([r["motion_bits_per_frame"] for r in rows], weights=[r["frames"] for r in rows]))
        out[key] = agg
    return out


def preset_keys(points: dict[str, dict]) -> list[str]:
    return [k for k in points if k.startswith(PRESET_PREFIX) and k not in AVFR_MODES]


def rd_curves(points: dict[str, dict]) -> dict[str, tuple[Curve, Curve]]:
    """Per BD metric: (VVC's QP sweep, avfr's preset curve) from one set of points."""
    vvc_keys = [k for k in points if k.startswith("vvc-qp")]
    avfr_keys = preset_keys(points)
    return {
        m: (Curve.of([points[k]["kbps"] for k in vvc_keys], [points[k].get(m) for k in vvc_keys], lower),
            Curve.of([points[k]["kbps"] for k in avfr_keys], [points[k].get(m) for k in avfr_keys], lower))
        for m, lower in BD_METRICS.items()
    }  # fmt: skip


def curve_comparison(aggregate: dict[str, dict], clips: list[dict]) -> dict[str, dict]:
    """BD-rate of avfr's curve against VVC's per metric: per clip then the mean over clips (the
    JVET way), and on the mean curves; BD-quality and the crossover rate on the mean curves."""
    per_clip = [rd_curves(c["points"]) for c in clips]
    out = {}
    for m, (anchor, test) in rd_curves(aggregate).items():
        clip_bd = [bd_rate(*curves[m]).value for curves in per_clip]
        defined = [v for v in clip_bd if v is not None]
        mean_bd = bd_rate(anchor, test)
        out[m] = {
            "bd_rate_mean_of_clips": float(np.mean(defined)) if defined else None, "clips_with_bd_rate": len(defined),
            "bd_rate_per_clip": clip_bd, "bd_rate_mean_curve": mean_bd.value, "bd_rate_note": mean_bd.text(),
            "bd_quality": bd_quality(anchor, test).value, "crossover": asdict(crossover(anchor, test)),
            "crossover_text": crossover(anchor, test).text(),
        }  # fmt: skip
    return out


def _fmt(v: object, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def markdown(result: dict) -> str:
    """The Markdown report: the table, then how it was measured."""
    cfg, agg = result["config"], result["aggregate"]
    head = ("| codec point | kbps | bpp | PSNR | SSIM | LPIPS | DISTS | FID | ID-sim | LMD | mouth corr | mouth amp | eye corr "
            "| mouth LPIPS | enc fps | dec fps |")  # fmt: skip
    lines = [f"# Rate-distortion: avfr vs H.266/VVC ({result['name']})", "", head, "|" + "---|" * 16]
    for key, p in agg.items():
        cells = [key, _fmt(p["kbps"], 2), _fmt(p["bpp"], 4), _fmt(p["psnr"], 2), _fmt(p["ssim"], 4), _fmt(p["lpips"], 4),
                 _fmt(p["dists"], 4), fid_cell(p), _fmt(p["identity"], 3), _fmt(p["lmd"], 4),
                 _fmt(p.get("mouth_corr"), 3), _fmt(p.get("mouth_amplitude_ratio"), 3), _fmt(p.get("eye_corr"), 3),
                 _fmt(p.get("mouth_lpips"), 4), _fmt(p["encode_fps"], 1), _fmt(p["decode_fps"], 1)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += silence_lines(agg.get("avfr", {}))
    lines += curve_lines(result.get("curves", {}), result.get("vvc", {}).get("label", ""))
    lines += call_lines(agg)
    m = result["machine"]
    audio = agg.get("avfr", {}).get("audio_kbps")
    lines += [
        "",
        f"{result['clips_run']} clips, {agg.get('avfr', {}).get('frames', 0)} frames (256x256, {cfg['fps']:g} fps, at most "
        f"{cfg['max_frames']} per clip); model `{result['model']}`; git {result['git']['commit'][:12]}"
        f"{' (dirty)' if result['git']['dirty'] else ''}; {m['cpu']}, {m['logical_cpus']} logical CPUs, {cfg['threads']} threads.",
        "",
        "- kbps / bpp: video only, mean over clips; bpp over the scored 256x256 frames. avfr = keyframe + motion + container "
        f"overhead, with the audio packets' framing and the header's audio fields moved to audio (avfr audio: {_fmt(audio, 2)} "
        "kbps Opus incl. framing, not in the table; VVC carries none). repeat-keyframe = keyframe bytes only.",
        f"- avfr = the defaults: compact motion ({_fmt(agg.get('avfr', {}).get('motion_bits_per_frame'), 1)} motion bits per "
        "frame, mean) and adaptive keyframe refresh; avfr-1key = the same without refresh (first keyframe only); avfr-raw = "
        f"the paper's setting: raw FP16 motion ({_fmt(agg.get('avfr-raw', {}).get('motion_bits_per_frame'), 0)} bits per frame) "
        "and one keyframe. All three carry the same keypoints (one sender pass; `codec.bitstream.transcode` makes each stream).",
        "- avfr frames are the receiver's output at the model's size (256 px for light-256; a 128-px model's are upsampled to 256 with bicubic); the reference is "
        "the sender's 256 px face crops, which VVC codes too.",
        f"- PSNR (RGB) on every frame; SSIM, LPIPS-Alex, ID-sim (SFace cosine, higher is better), LMD (MediaPipe NME, "
        f"inter-ocular) on 1 in {cfg['metric_stride']} frames; DISTS on 1 in {cfg['slow_metric_stride']}; FID over the "
        f"set of 1 in {cfg.get('fid_stride', cfg['slow_metric_stride'])} frames ({result['fid_frames']} per point; [95% bootstrap "
        'interval over the frames]; "n/c": fewer than 500 frames, biased upwards, not comparable).',
        "- mouth corr / mouth amp: Pearson correlation and std ratio (decoded / reference) of the mouth opening per frame "
        "(inner-lip gap 13-14 over the eye-corner distance 33-263), eye corr: the same for the eyelid gaps (blinks), mouth "
        "LPIPS: LPIPS-Alex of the box around the reference's lips scaled to 64x64; all from `codec.face_measures`, MediaPipe "
        "tracking both series over every frame after the first; per clip, then the mean over clips (repeat-keyframe: a still "
        "mouth, the measure's floor).",
        "- enc/dec fps: avfr encode/render loops without model loading; VVC whole FFmpeg processes. vvc-match: VVC at "
        "each clip's avfr bpp (`benchmarks.vvc.match_bpp`).",
        f"- wall time {result['timing']['total_s']:.0f} s; projected full dev run from these costs: "
        f"{result['timing']['projected_full_dev_s']:.0f} s (this machine's load at the time).",
    ]
    return "\n".join(lines) + "\n"


def fid_cell(p: dict) -> str:
    if p.get("fid") is None:
        return "–"
    cell = f"{p['fid']:.1f}"
    if p.get("fid_interval"):
        cell += " [{:.0f}, {:.0f}]".format(*p["fid_interval"])
    return cell if p.get("fid_comparable") else cell + " n/c"


def curve_lines(curves: dict, anchor: str) -> list[str]:
    """avfr's preset curve against VVC's QP sweep: BD-rates and the crossover."""
    if not curves:
        return []
    lines = ["", f"## avfr's curve (presets) against VVC (QP sweep; {anchor})", "",
             "| metric | BD-rate, mean of per-clip | BD-rate, mean curves | BD-quality (avfr - VVC) | crossover: highest rate avfr still wins |",
             "|---|---|---|---|---|"]  # fmt: skip
    for m, c in curves.items():
        mean = c["bd_rate_mean_of_clips"]
        per_clip = f"{mean:+.1f}% ({c['clips_with_bd_rate']} clips)" if mean is not None else "n/a"
        lines.append(f"| {m.upper()} | {per_clip} | {c['bd_rate_note']} | {_fmt(c['bd_quality'], 4)} | {c['crossover_text']} |")
    return lines + ["", "BD-rate: negative = avfr needs that much less video rate than VVC for the same quality, over the quality "
                    "range both curves reach (`benchmarks.bdrate`, PCHIP); points a cheaper point of the same curve beats are "
                    "dropped first. Crossover on the mean curves, quality against log-rate."]  # fmt: skip


def call_lines(agg: dict[str, dict]) -> list[str]:
    """What a call's file costs per avfr point, and a VVC call with the same speech."""
    rows = [(k, p) for k, p in agg.items() if p.get("total_kbps") is not None]
    if not rows:
        return []
    lines = ["", "## Whole-call bits (kbit/s, mean over clips)", "",
             "| point | video | keyframes | motion | speech (Opus) | container (all framing) | total |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for k, p in rows:
        lines.append(f"| {k} | {_fmt(p['kbps'], 2)} | {_fmt(p['keyframes_kbps'], 2)} | {_fmt(p['motion_kbps'], 2)} | "
                     f"{_fmt(p['speech_kbps'], 2)} | {_fmt(p['container_kbps'], 2)} | {_fmt(p['total_kbps'], 2)} |")  # fmt: skip
    vvc_rows = [(k, p) for k, p in agg.items() if p.get("total_with_speech_kbps") is not None]
    lines += ["", "video = keyframes + motion + the video records' framing (what the table above compares); container = all "
              "framing, the speech's included; total = the file. VVC with the same speech (video + Opus + its framing): "
              + ", ".join(f"{k} {p['total_with_speech_kbps']:.1f}" for k, p in vvc_rows) + ". A live call adds the "
              "transport's framing (`benchmarks/results/call.md`)."]  # fmt: skip
    return lines


def silence_lines(avfr: dict) -> list[str]:
    """The avfr point's face measures on its clips with speech, with the speech and with silence."""
    if not avfr.get("speech_clips"):
        return []
    cells = []
    for m, digits in zip(FACE_METRICS, (3, 3, 3, 4)):
        a, b = avfr.get(f"speech_clips_{m}"), avfr.get(f"speech_clips_{m}_without_speech")
        change = f" ({100 * (b / a - 1):+.1f}%)" if m == "mouth_lpips" and a and b is not None else ""
        cells.append(f"{m.replace('_', ' ')} {_fmt(a, digits)} -> {_fmt(b, digits)}{change}")
    return ["", f"avfr with silence in place of the speech, on the {avfr['speech_clips']} clips with speech: " + "; ".join(cells) + "."]


# --------------------------------------------------------------------------- provenance


def ffmpeg_version(cfg: RDConfig) -> str:
    try:
        out = subprocess.run([cfg.vvc.executable(), "-version"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "unknown"
    except (OSError, vvc.AnchorError):
        return "unknown"


# --------------------------------------------------------------------------- run


def list_clips(data: Path, limit: int | None = None) -> list[Path]:
    """The clips of a folder by name, the first ``limit`` of them."""
    if not data.is_dir():
        raise InputError(f"no clip folder at {data}: pass --data DIR (JVET-style talking-head clips)")
    clips = sorted(p for p in data.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise InputError(f"{data} holds no video clips ({', '.join(VIDEO_SUFFIXES)})")
    return clips[:limit] if limit else clips


def output_paths(cfg: RDConfig) -> dict[str, Path]:
    from benchmarks.plots import PLOTTED

    base = cfg.out / f"rd-{cfg.run_name}"
    paths = {"json": base.with_suffix(".json"), "md": base.with_suffix(".md")}
    paths.update({m: cfg.out / f"rd-{cfg.run_name}-{m}.png" for m in PLOTTED})
    return paths


def run(cfg: RDConfig, argv: Sequence[str] | None = None) -> dict:
    """The whole benchmark; returns the result written to ``rd-<name>.json``."""
    from benchmarks.plots import rd_plots

    paths = output_paths(cfg)
    existing = [p for p in paths.values() if p.exists()]
    if existing and not cfg.force:
        raise AvfrError(f"{existing[0]} exists: pass --force to overwrite, or --name/--out for another place")
    clips = list_clips(cfg.data, cfg.clips)
    vvc.check_ffmpeg(cfg.vvc)
    torch.set_num_threads(cfg.threads)
    code = git_state()  # at the start: a run of hours may see commits land before it ends
    started = time.perf_counter()
    timing = {"avfr_s": 0.0, "vvc_sweep_s": 0.0, "vvc_sweep_frames": 0, "vvc_s": 0.0, "presets_s": 0.0, "resumed_clips": 0, "resumed_s": 0.0}
    scorer = Scorer(cfg)
    store = ClipStore(cfg.work_dir, cfg.result_settings())
    per_point = len(AVFR_MODES) + len(cfg.presets) + 1 + len(cfg.qps) + int(cfg.match_bpp)
    bar = progress_bar(total=len(clips) * per_point, desc="rd", unit="point", disable=not cfg.progress)
    results: list[dict] = []
    resumed: list[dict] = []
    try:
        for clip in clips:

            def tick(label: str, clip: Path = clip) -> None:
                bar.set_postfix_str(f"{clip.stem[:32]} {label}")
                bar.update(1)

            stored = store.load(clip) if cfg.resume else None
            if stored is not None:
                if cfg.keep_streams is not None and not resumed:
                    print(f"note: resumed clips' streams are not in {cfg.keep_streams}: they were written by the run that made them", file=sys.stderr)
                restore_clip(stored, scorer, timing)
                resumed.append(stored.costs.get("made_at", {}))
                bar.update(per_point)
            else:
                stored = bench_and_store(clip, cfg, scorer, tick, timing, store, code)
            results.append(stored.record)
        bar.close()
        agg = aggregate(results, scorer)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; {len(results)} of {len(clips)} clips are kept in {store.folder}: run again with --resume to go on") from None
    finally:
        scorer.close()
    timing.update({f"{m}_s": s for m, s in scorer.seconds.items()}, total_s=time.perf_counter() - started + timing["resumed_s"])
    frames = sum(r["frames"] for r in results)
    timing["preset_count"] = len(cfg.presets)
    timing["projected_full_dev_s"] = projected_full_run(timing, scorer.frames, frames)
    cfg_dict = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    result = {
        "name": cfg.run_name,
        "command": [sys.executable, "-m", "benchmarks.rd", *(argv or [])],
        "config": cfg_dict,
        "model": str(cfg.model) if cfg.model else f"bundled (codec/weights/{DEFAULT_MODEL})",
        "clips_run": len(results),
        "fid_frames": int(sum(len(f) for f in scorer.features.get("reference", []))),
        "machine": machine(),
        "packages": package_versions(),
        "git": code,
        "resumed_clips_made_at": made_at(resumed, code),
        "preset_settings": preset_labels(cfg.presets),
        "vvc": {"ffmpeg": ffmpeg_version(cfg), "config": asdict(cfg.vvc), "label": cfg.vvc.label(), "qps": list(cfg.qps)},
        "curves": curve_comparison(agg, results),
        "timing": timing,
        "aggregate": agg,
        "clips": results,
    }
    write_outputs(result, cfg, paths, rd_plots)
    return result


def made_at(resumed: list[dict], code: dict) -> list[str]:
    """The commits that made the clips a resumed run took back (``+dirty``: uncommitted changes);
    a line on stderr when they are not the run's own."""
    commits = sorted({f"{r.get('git_commit', 'unknown')}{'+dirty' if r.get('dirty') else ''}" for r in resumed})
    own = f"{code.get('commit')}{'+dirty' if code.get('dirty') else ''}"
    if any(c != own for c in commits):
        print(f"note: {len(resumed)} resumed clips were made at {', '.join(commits)}; this run is {own}", file=sys.stderr)
    return commits


def write_outputs(result: dict, cfg: RDConfig, paths: dict[str, Path], plotter: Callable[..., list[Path]]) -> None:
    cfg.out.mkdir(parents=True, exist_ok=True)
    paths["json"].write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    paths["md"].write_text(markdown(result))
    plotter(result["aggregate"], cfg.out, cfg.run_name, f"avfr vs VVC, {cfg.run_name} ({result['clips_run']} clips)", result["curves"])


def _json_default(v: object) -> object:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    raise TypeError(f"not JSON serialisable: {type(v)}")


def projected_full_run(timing: dict[str, float], metric_frames: dict[str, int], frames: int, cfg: RDConfig | None = None) -> float:
    """Seconds a full dev run with the default settings would take at this run's per-unit costs.

    Per-frame costs of each stage, times how often the defaults run that stage on the 21-clip
    dev set: avfr once per frame and each preset's own pass (the run's presets_s scaled to the
    default preset count), VVC len(qps) + 1 (match_bpp's one encode between the two sweep
    QPs that bracket avfr's rate) encodes per frame, each metric on its stride of every point
    (FID: one more set, the reference). Costs of a short run include one-off warm-up, so this
    errs high.
    """
    d, n = cfg or RDConfig(), FULL_DEV["frames"]
    points = len(AVFR_MODES) + len(d.presets) + 1 + len(d.qps) + 1
    vvc_per_frame = timing["vvc_sweep_s"] / max(timing["vvc_sweep_frames"], 1)
    total = timing["avfr_s"] / max(frames, 1) * n + vvc_per_frame * n * (len(d.qps) + 1.0)
    run_presets = max(timing.get("preset_count", 0), 1)
    total += timing.get("presets_s", 0.0) / max(frames, 1) * n * len(d.presets) / run_presets
    strides = {"psnr": 1, "ssim": d.metric_stride, "lpips": d.metric_stride, "identity": d.metric_stride, "lmd": d.metric_stride,
               "dists": d.slow_metric_stride, "fid": d.fid_stride, "face": 1}  # fmt: skip
    for m, stride in strides.items():
        per = timing.get(f"{m}_s", 0.0) / max(metric_frames.get(m, 0), 1)
        total += per * math.ceil(n / stride) * (points + (m == "fid"))
    return total


# --------------------------------------------------------------------------- CLI


def _qps(text: str) -> tuple[int, ...]:
    try:
        qps = tuple(int(q) for q in text.replace(" ", "").split(",") if q)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--qps takes comma-separated integers such as 37,42,47, got {text!r}") from None
    if not qps or any(not 0 <= q <= 63 for q in qps):
        raise argparse.ArgumentTypeError(f"--qps must be integers in 0..63, got {text!r}")
    return qps


def build_parser() -> argparse.ArgumentParser:
    d = RDConfig()
    p = argparse.ArgumentParser(prog="avfr bench", description="Rate-distortion benchmark: avfr vs H.266/VVC on talking-head clips.")
    p.add_argument("--data", type=Path, default=None, help=f"folder of clips (default {d.data})")
    p.add_argument("--clips", type=int, default=None, help="use the first N clips (sorted by name)")
    p.add_argument("--max-frames", type=int, default=None, help=f"frames per clip (default {d.max_frames})")
    p.add_argument("--qps", type=_qps, default=None, help=f"VVC QPs (default {','.join(map(str, d.qps))})")
    p.add_argument("--no-match", action="store_true", help="skip the VVC point matched to avfr's bpp")
    p.add_argument("--no-silence", action="store_true", help="skip rendering avfr with silence for its speech (face measures)")
    p.add_argument("--model", type=Path, default=None, help="avfr model .safetensors (default: the bundled one)")
    p.add_argument("--metric-stride", type=int, default=None, help=f"SSIM/LPIPS/ID/LMD on every n-th frame (default {d.metric_stride})")
    p.add_argument("--slow-metric-stride", type=int, default=None, help=f"DISTS on every n-th frame (default {d.slow_metric_stride})")
    p.add_argument("--fid-stride", type=int, default=None, help=f"FID features on every n-th frame (default {d.fid_stride}: >= 500 frames on the dev set)")
    p.add_argument("--avfr-presets", default=None, help=f"avfr's curve: comma-separated preset names, or 'none' (default {','.join(d.presets)})")
    p.add_argument("--out", type=Path, default=None, help=f"output folder (default {d.out})")
    p.add_argument("--name", default=None, help="results are rd-<name>.json/.md/-*.png (default: the data folder's name)")
    p.add_argument("--preset", default=None, choices=vvc.PRESETS, help=f"VVenC preset (default {d.vvc.preset}; benchmarks.vvc_sweep measures which is best)")
    p.add_argument("--vvc-intra-period", type=int, default=None, metavar="S", help="VVC: an intra picture every S seconds (default: one, the first)")
    p.add_argument("--vvc-qpa", action="store_true", help="VVC: VVenC's perceptual QP adaptation on (default off, the JVET CTC setting)")
    p.add_argument("--smoke", action="store_true", help="CI size: 2 clips, 12 frames, QPs 37,52")
    p.add_argument("--force", action="store_true", help="overwrite earlier results of the same name")
    p.add_argument("--keep-streams", type=Path, default=None, help="keep the .avfr files in this folder")
    p.add_argument("--resume", action="store_true", help="take back the clips an interrupted run finished (same settings, model and clip files only)")
    p.add_argument("--work", type=Path, default=None, help="where each finished clip is kept for --resume (default out/rd-<name>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=None, help=f"torch and VVenC threads (default {d.threads}; 1 beside another heavy job)")
    return p


def _preset_list(text: str) -> tuple[str, ...]:
    from sender.presets import preset

    names = () if text == "none" else tuple(n for n in text.replace(" ", "").split(",") if n)
    for name in names:
        preset(name)  # an unknown name is one line naming the choices
    return names


def config_from_args(args: argparse.Namespace) -> RDConfig:
    given = {
        "data": args.data, "clips": args.clips, "max_frames": args.max_frames, "qps": args.qps, "model": args.model,
        "metric_stride": args.metric_stride, "slow_metric_stride": args.slow_metric_stride, "out": args.out, "name": args.name,
        "keep_streams": args.keep_streams, "fid_stride": args.fid_stride, "threads": args.threads, "work": args.work,
        "presets": _preset_list(args.avfr_presets) if args.avfr_presets else None,
    }  # fmt: skip
    given = {k: v for k, v in given.items() if v is not None}
    cfg = RDConfig.smoke(**given) if args.smoke else RDConfig(**given)
    cfg.match_bpp, cfg.force, cfg.progress, cfg.silence = not args.no_match, args.force, not args.no_progress, not args.no_silence
    cfg.resume = args.resume
    cfg.vvc = replace(cfg.vvc, preset=args.preset or cfg.vvc.preset, intra_period_s=args.vvc_intra_period, perceptual_qpa=args.vvc_qpa)
    for name in ("clips", "max_frames", "metric_stride", "slow_metric_stride", "fid_stride", "threads"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m benchmarks.rd`` and ``avfr bench``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
        result = run(cfg, argv)
    except AvfrError as err:
        if os.environ.get("AVFR_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code if isinstance(err, Interrupted) else 1
    paths = output_paths(cfg)
    print(markdown(result), end="")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
