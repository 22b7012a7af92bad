"""What a lower Opus rate does to the speech and to the picture (issue 16, item 4).

    python -m benchmarks.speech_rate [--data DIR] [--clips 4] [--max-frames 125] [--rates 6,8,12,16]
                                     [--out benchmarks/results] [--name speech_rate] [--smoke] [--force]

Speech is most of a call's bits (16 kbit/s of Opus against ~5-9 of video), and the receiver's
generator hears the decoded speech, so the rate is measured on both sides. For each dev clip
with sound and each rate, the clip is encoded by the real sender with ``audio_bitrate`` =
that rate (same keypoints and keyframes every time; only the speech differs) and decoded by
the real receiver:

* speech, decoded Opus against the original 16 kHz track: PESQ wide-band (ITU-T P.862.2,
  the ``pesq`` package), STOI (``pystoi``), log-spectral distance (dB, 32 ms frames; below
  ~8 kbit/s Opus codes narrow-band, and the empty 4-8 kHz band weighs fully in it) and the
  mean absolute difference of the log-mel features the generator itself takes
  (``codec.audio_features.log_mel``: what the picture can be changed by);
* picture: LPIPS on 1 in ``--metric-stride`` frames, mouth LPIPS and mouth-opening correlation
  on every frame after the first (``codec.face_measures``), against the sender's crops;
* bits: the speech's kbit/s in the file, Opus payload and its framing.

The measured pick (:class:`Criteria`) is the lowest rate whose picture stays within
``picture_tolerance`` of the reference rate's on LPIPS and mouth LPIPS and whose speech loses
at most ``max_pesq_drop`` PESQ and ``max_stoi_drop`` STOI against it. It is reported, not
applied: the default (``EncodeOptions.audio_bitrate``) changes only when a full run supports
it. Run time: (rates x clips x frames) sender + receiver frames, ~0.1 s each on 2 shared
cores: the defaults (4 x 4 x 125) ~4 min.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.provenance import refuse_overwrite, run_cli, write_results
from benchmarks.rd import DEFAULT_DATA, REPO, RDConfig, _decode_stream, _mean, list_clips, sampled
from codec.errors import AvfrError

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Criteria:
    """When a lower rate is as good as the reference rate (the setting the pick follows)."""

    reference_kbps: int = 16
    picture_tolerance: float = 0.01  # relative, on LPIPS and mouth LPIPS
    max_pesq_drop: float = 0.3  # MOS-LQO
    max_stoi_drop: float = 0.02


def log_spectral_distance(reference: np.ndarray, decoded: np.ndarray, n_fft: int = 512, hop: int = 256) -> float:
    """Mean over frames of the RMS difference of the log power spectra (dB), frames with sound only."""
    import librosa

    n = min(len(reference), len(decoded))
    a = np.abs(librosa.stft(reference[:n], n_fft=n_fft, hop_length=hop)) ** 2
    b = np.abs(librosa.stft(decoded[:n], n_fft=n_fft, hop_length=hop)) ** 2
    loud = a.sum(axis=0) > 1e-3 * a.sum(axis=0).max()
    diff = 10 * np.log10(a[:, loud] + 1e-10) - 10 * np.log10(b[:, loud] + 1e-10)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


def mel_distance(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Mean absolute difference of the generator's own log-mel features."""
    from codec.audio_features import log_mel

    a, b = log_mel(reference), log_mel(decoded)
    n = min(a.shape[-1], b.shape[-1])
    return float(np.mean(np.abs(a[..., :n] - b[..., :n])))


def speech_scores(reference: np.ndarray, decoded: np.ndarray) -> dict[str, float | None]:
    """PESQ-WB, STOI, log-spectral distance and log-mel distance of decoded against original speech."""
    from pesq import PesqError, pesq
    from pystoi import stoi

    n = min(len(reference), len(decoded))
    ref, dec = reference[:n].astype(np.float64), decoded[:n].astype(np.float64)
    try:
        p = float(pesq(SAMPLE_RATE, ref, dec, "wb"))
    except PesqError:  # no speech found in the reference
        p = None
    return {"pesq_wb": p, "stoi": float(stoi(ref, dec, SAMPLE_RATE)), "lsd_db": log_spectral_distance(ref, dec),
            "mel_distance": mel_distance(reference[:n], decoded[:n])}  # fmt: skip


@dataclass
class SpeechRateConfig:
    data: Path = DEFAULT_DATA
    out: Path = REPO / "benchmarks" / "results"
    name: str = "speech_rate"
    clips: int = 4
    max_frames: int = 125
    rates: tuple[int, ...] = (6, 8, 12, 16)
    metric_stride: int = 5
    model: Path | None = None
    force: bool = False
    criteria: Criteria = field(default_factory=Criteria)

    @classmethod
    def smoke(cls) -> "SpeechRateConfig":
        return cls(name="speech_rate-smoke", clips=1, max_frames=25, rates=(6, 16), metric_stride=4)


def clips_with_speech(data: Path, limit: int) -> list[Path]:
    from codec.media import video_io

    return [c for c in list_clips(data) if video_io.probe(c).has_audio][:limit]


def measure_clip(clip: Path, cfg: SpeechRateConfig, faces: "object", lpips: "object", workdir: Path) -> list[dict]:
    from codec.media import video_io
    from sender.encoder import EncodeOptions, encode_file

    rd_cfg = RDConfig(model=cfg.model, max_frames=cfg.max_frames)
    original = video_io.read_audio(clip, sample_rate=SAMPLE_RATE)
    rows, reference, track = [], None, None
    for kbps in cfg.rates:
        crops: list[np.ndarray] = []
        stream = workdir / f"{clip.stem}.opus{kbps}.avfr"
        options = EncodeOptions(model_path=cfg.model, max_frames=cfg.max_frames, audio_bitrate=kbps * 1000)
        enc = encode_file(clip, stream, options, progress=False, on_crop=crops.append)
        if reference is None:
            reference = np.stack(crops)
            track = faces.track(reference[1:])
        decoded = _decode_stream(stream, rd_cfg, len(reference), enc.seconds, [])
        pcm = read_speech(stream)
        start = enc.leading_frames_without_face * SAMPLE_RATE // 25
        bits, seconds = decoded.bits, len(reference) / rd_cfg.fps
        s = sampled(cfg.metric_stride)
        face = faces.compare(reference[1:], track, decoded.decoded[1:]).summary()
        rows.append({
            "clip": clip.name, "kbps": kbps, "speech_kbps": 8 * (bits.audio_payload + bits.audio_framing) / seconds / 1000,
            "opus_kbps": 8 * bits.audio_payload / seconds / 1000,
            **speech_scores(original[start : start + len(pcm)], pcm),
            "lpips": _mean(lpips(reference[s], decoded.decoded[s])), "mouth_lpips": face["mouth_lpips"], "mouth_corr": face["mouth_corr"],
        })  # fmt: skip
    return rows


def read_speech(stream: Path) -> np.ndarray:
    from receiver.decoder import read_header, read_stream_audio

    pcm, _ = read_stream_audio(stream, read_header(stream))
    return pcm


def aggregate(rows: list[dict], rates: Sequence[int]) -> list[dict]:
    out = []
    for kbps in rates:
        mine = [r for r in rows if r["kbps"] == kbps]
        out.append({"kbps": kbps, "clips": len(mine), **{k: _mean([r[k] for r in mine if r[k] is not None]) for k in
                    ("speech_kbps", "opus_kbps", "pesq_wb", "stoi", "lsd_db", "mel_distance", "lpips", "mouth_lpips", "mouth_corr")}})  # fmt: skip
    return out


def pick(per_rate: list[dict], criteria: Criteria) -> tuple[int | None, list[str]]:
    """The lowest rate as good as the reference rate by ``criteria``, with each rate's verdict."""
    ref = next((r for r in per_rate if r["kbps"] == criteria.reference_kbps), None)
    if ref is None:
        return None, [f"the reference rate {criteria.reference_kbps} kbit/s was not measured"]
    verdicts, ok = [], []
    for r in sorted(per_rate, key=lambda r: r["kbps"]):
        why = []
        for m in ("lpips", "mouth_lpips"):
            if r[m] is not None and ref[m] is not None and r[m] > ref[m] * (1 + criteria.picture_tolerance):
                why.append(f"{m} {r[m]:.4f} vs {ref[m]:.4f}")
        if r["pesq_wb"] is not None and ref["pesq_wb"] is not None and ref["pesq_wb"] - r["pesq_wb"] > criteria.max_pesq_drop:
            why.append(f"PESQ {r['pesq_wb']:.2f} vs {ref['pesq_wb']:.2f}")
        if r["stoi"] is not None and ref["stoi"] - r["stoi"] > criteria.max_stoi_drop:
            why.append(f"STOI {r['stoi']:.3f} vs {ref['stoi']:.3f}")
        verdicts.append(f"{r['kbps']} kbit/s: " + ("as good" if not why else "worse (" + "; ".join(why) + ")"))
        if not why:
            ok.append(r["kbps"])
    return (min(ok) if ok else None), verdicts


def run(cfg: SpeechRateConfig, argv: Sequence[str] = ()) -> dict:
    from benchmarks.metrics.lpips import LPIPSMetric
    from codec.face_measures import FaceMeasures

    refuse_overwrite(cfg.out, cfg.name, cfg.force)
    clips = clips_with_speech(cfg.data, cfg.clips)
    if not clips:
        raise AvfrError(f"no clip with sound in {cfg.data}")
    started = time.perf_counter()
    lpips = LPIPSMetric()
    faces = FaceMeasures(lpips.net)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="avfr-speech-") as tmp:
        for clip in clips:
            rows += measure_clip(clip, cfg, faces, lpips, Path(tmp))
    per_rate = aggregate(rows, cfg.rates)
    chosen, verdicts = pick(per_rate, cfg.criteria)
    result = {
        "command": [sys.executable, "-m", "benchmarks.speech_rate", *argv], "clips": [c.name for c in clips],
        "max_frames": cfg.max_frames, "criteria": asdict(cfg.criteria), "per_rate": per_rate, "per_clip": rows,
        "measured_pick_kbps": chosen, "verdicts": verdicts, "seconds": time.perf_counter() - started,
    }  # fmt: skip
    write_results(cfg.out, cfg.name, result, markdown, plot, image_alt="speech and picture against the Opus rate")
    return result


def markdown(result: dict) -> str:
    f = lambda v, d: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
    c = result["criteria"]
    lines = [
        "# Opus rate: the speech and the picture", "",
        f"`python -m benchmarks.speech_rate`: {len(result['clips'])} dev clip(s) with sound, at most {result['max_frames']} frames each; "
        "each rate a real sender pass (only the speech differs) and a real decode.", "",
        "| Opus kbit/s | speech in the file (kbit/s, with framing) | PESQ-WB | STOI | LSD (dB) | log-mel distance | LPIPS | mouth LPIPS | mouth corr |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in result["per_rate"]:
        lines.append(f"| {r['kbps']} | {f(r['speech_kbps'], 2)} | {f(r['pesq_wb'], 2)} | {f(r['stoi'], 3)} | {f(r['lsd_db'], 2)} | "
                     f"{f(r['mel_distance'], 3)} | {f(r['lpips'], 4)} | {f(r['mouth_lpips'], 4)} | {f(r['mouth_corr'], 3)} |")  # fmt: skip
    pick_text = f"{result['measured_pick_kbps']} kbit/s" if result["measured_pick_kbps"] else "none"
    lines += [
        "", f"Measured pick: **{pick_text}**, the lowest rate within {100 * c['picture_tolerance']:g}% of {c['reference_kbps']} kbit/s "
        f"on LPIPS and mouth LPIPS, at most {c['max_pesq_drop']:g} PESQ and {c['max_stoi_drop']:g} STOI below it "
        "(`benchmarks.speech_rate.Criteria`). Reported, not applied: the default changes when a full run supports it.", "",
        *[f"- {v}" for v in result["verdicts"]], "",
        "PESQ-WB (P.862.2, MOS-LQO) and STOI against the original 16 kHz track; LSD: RMS log-spectrum difference over 32 ms "
        "frames with sound; log-mel distance: the generator's own input features (`codec.audio_features.log_mel`), mean "
        "absolute difference. Picture against the sender's crops (LPIPS-Alex; mouth measures from `codec.face_measures`).",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    from benchmarks.plots import plt, save_figure

    rates = [r["kbps"] for r in result["per_rate"]]
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(rates, [r["pesq_wb"] for r in result["per_rate"]], "o-", label="PESQ-WB (speech)")
    twin = ax.twinx()
    twin.plot(rates, [r["mouth_lpips"] for r in result["per_rate"]], "s--", color="tab:red", label="mouth LPIPS (picture)")
    twin.set_ylabel("mouth LPIPS (lower is better)", color="tab:red")
    save_figure(fig, ax, path, "Opus kbit/s", "PESQ-WB (higher is better)")


def build_parser() -> argparse.ArgumentParser:
    d = SpeechRateConfig()
    p = argparse.ArgumentParser(prog="python -m benchmarks.speech_rate", description="What lower Opus rates do to the speech and the picture.")
    p.add_argument("--data", type=Path, default=d.data)
    p.add_argument("--clips", type=int, default=d.clips, help=f"the first N clips with sound (default {d.clips})")
    p.add_argument("--max-frames", type=int, default=d.max_frames, help=f"frames per clip (default {d.max_frames})")
    p.add_argument("--rates", default=",".join(map(str, d.rates)), help="Opus kbit/s, 6-64 (default 6,8,12,16)")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--out", type=Path, default=d.out)
    p.add_argument("--name", default=None, help=f"results are NAME.json/.md/.png (default {d.name})")
    p.add_argument("--smoke", action="store_true", help="1 clip, 25 frames, 6 and 16 kbit/s")
    p.add_argument("--force", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    rates = tuple(int(r) for r in a.rates.split(",") if r)
    cfg = SpeechRateConfig.smoke() if a.smoke else SpeechRateConfig(clips=a.clips, max_frames=a.max_frames, rates=rates)
    cfg.data, cfg.out, cfg.model, cfg.force, cfg.name = a.data, a.out, a.model, a.force, a.name or cfg.name
    return run_cli(lambda: run(cfg, argv), markdown)


if __name__ == "__main__":
    sys.exit(main())
