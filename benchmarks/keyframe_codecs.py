"""Which image codec should code the keyframe? Size vs quality on real 256x256 face crops.

    python -m benchmarks.keyframe_codecs [--data DIR] [--images 20] [--out benchmarks/results]

Takes one face crop from each of up to ``--images`` dev clips (MediaPipe face detection,
square box around the face enlarged 1.8x, resized to 256x256, the crop the model sees),
codes it with every available codec over a quality sweep, and records bytes, PSNR, SSIM
and encode/decode time. The choice: the codec with the best mean PSNR over the 2-10 KB
band (PSNR interpolated on log-size, so no codec wins by having more points there), at the
sweep setting whose mean size is nearest the target size. The crops live only in memory:
nothing derived from the data set is written to the repo except these numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from codec.evaluation import finite_psnr
from codec.media.keyframe import CODECS, available_codecs, decode_keyframe, encode_keyframe

REPO = Path(__file__).resolve().parent.parent


@dataclass
class BenchConfig:
    data: Path = REPO.parent / "shared" / "data" / "talking-heads" / "dev"
    images: int = 20
    size: int = 256
    box_scale: float = 1.8
    at_seconds: float = 1.0  # which frame of each clip (past a possible fade-in)
    band_kb: tuple[float, float] = (2.0, 10.0)
    target_kb: float = 5.0
    out: Path = REPO / "benchmarks" / "results"
    sweeps: dict[str, list[int]] = field(
        default_factory=lambda: {
            "jpeg": [20, 40, 60, 75, 85, 90, 95],
            "webp": [25, 50, 75, 85, 90, 95, 98, 100],
            "av1": [46, 34, 28, 22, 16, 12, 8, 4],
            "hevc": [36, 30, 26, 22, 18, 14, 10],
            "vvc": [43, 37, 33, 29, 26, 23, 20, 17],
            "jxl": [40, 60, 75, 85, 90, 95, 98],
        }
    )


# --------------------------------------------------------------------------- face crops


def read_frame(path: Path, at_seconds: float) -> np.ndarray | None:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame = None
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at_seconds:
                break
        return frame.to_ndarray(format="rgb24") if frame is not None else None


def face_crop(rgb: np.ndarray, detector, cfg: BenchConfig) -> np.ndarray | None:
    result = detector.process(rgb)
    if not result.detections:
        return None
    box = max(result.detections, key=lambda d: d.score[0]).location_data.relative_bounding_box
    h, w = rgb.shape[:2]
    cx, cy = (box.xmin + box.width / 2) * w, (box.ymin + box.height / 2) * h
    side = max(box.width * w, box.height * h) * cfg.box_scale
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    padded = cv2.copyMakeBorder(rgb, s, s, s, s, cv2.BORDER_REPLICATE)  # a box past the edge stays square
    crop = padded[y0 + s : y0 + 2 * s, x0 + s : x0 + 2 * s]
    return cv2.resize(crop, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)


def load_crops(cfg: BenchConfig) -> list[tuple[str, np.ndarray]]:
    import mediapipe as mp

    crops = []
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as detector:
        for clip in sorted(cfg.data.glob("*.mp4")):
            frame = read_frame(clip, cfg.at_seconds)
            crop = face_crop(frame, detector, cfg) if frame is not None else None
            if crop is not None:
                crops.append((clip.stem, crop))
            if len(crops) == cfg.images:
                break
    return crops


# --------------------------------------------------------------------------- metrics


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on luma, Gaussian window sigma 1.5 (Wang et al. 2004 constants)."""
    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    blur = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


# --------------------------------------------------------------------------- run


def measure(crops: list[tuple[str, np.ndarray]], cfg: BenchConfig) -> list[dict]:
    rows = []
    for codec in available_codecs():
        for quality in cfg.sweeps[codec]:
            per = [measure_one(img, codec, quality) for _, img in crops]
            rows.append(
                {
                    "codec": codec,
                    "quality": quality,
                    **{k: float(np.mean([p[k] for p in per])) for k in per[0]},
                    "bytes_min": int(min(p["bytes"] for p in per)),
                    "bytes_max": int(max(p["bytes"] for p in per)),
                }
            )
            r = rows[-1]
            print(
                f"{codec:>5} q={quality:<3} {r['bytes']:8.0f} B  {r['psnr']:6.2f} dB  SSIM {r['ssim']:.4f}  "
                f"enc {r['encode_ms']:6.1f} ms  dec {r['decode_ms']:5.1f} ms",
                flush=True,
            )
    return rows


def measure_one(img: np.ndarray, codec: str, quality: int) -> dict:
    t0 = time.perf_counter()
    data = encode_keyframe(img, codec, quality)
    t1 = time.perf_counter()
    out = decode_keyframe(data, CODECS[codec].proto, size=img.shape[:2])
    t2 = time.perf_counter()
    return {"bytes": len(data), "psnr": finite_psnr(img, out), "ssim": ssim(img, out), "encode_ms": (t1 - t0) * 1000, "decode_ms": (t2 - t1) * 1000}


def curve(rows: list[dict], codec: str) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted((r["bytes"], r["psnr"]) for r in rows if r["codec"] == codec)
    return np.log([p[0] for p in pts]), np.array([p[1] for p in pts])


def psnr_at(rows: list[dict], codec: str, kb: float) -> float | None:
    """PSNR at a size, interpolated on log(bytes); None outside the sweep (never extrapolated)."""
    sizes, quality = curve(rows, codec)
    x = np.log(kb * 1000)
    return float(np.interp(x, sizes, quality)) if sizes[0] <= x <= sizes[-1] else None


def common_band(rows: list[dict], codecs: list[str], band_kb: tuple[float, float]) -> tuple[float, float]:
    """The part of the target band every codec's sweep covers, so the ranking compares like with like."""
    lo, hi = np.log(band_kb[0] * 1000), np.log(band_kb[1] * 1000)
    for c in codecs:
        sizes, _ = curve(rows, c)
        lo, hi = max(lo, sizes[0]), min(hi, sizes[-1])
    return float(np.exp(lo) / 1000), float(np.exp(hi) / 1000)


def band_psnr(rows: list[dict], codec: str, band_kb: tuple[float, float]) -> float:
    sizes, quality = curve(rows, codec)
    grid = np.linspace(np.log(band_kb[0] * 1000), np.log(band_kb[1] * 1000), 64)
    return float(np.mean(np.interp(grid, sizes, quality)))


def choose(rows: list[dict], cfg: BenchConfig) -> dict:
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    band = common_band(rows, codecs, cfg.band_kb)
    scores = {c: band_psnr(rows, c, band) for c in codecs}
    best = max(scores, key=lambda c: scores[c])
    nearest = lambda c: min((r for r in rows if r["codec"] == c), key=lambda r: abs(np.log(r["bytes"] / (cfg.target_kb * 1000))))  # noqa: E731
    return {
        "codec": best,
        "quality": nearest(best)["quality"],
        "at_default": nearest(best),
        "ranking_band_kb": band,
        "band_psnr": scores,
        "per_codec_quality_near_target": {c: nearest(c)["quality"] for c in codecs},
        "psnr_at_kb": {c: {str(kb): psnr_at(rows, c, kb) for kb in REPORT_KB} for c in codecs},
    }


REPORT_KB = (2, 3, 5, 8, 10)


def write_results(rows: list[dict], choice: dict, crops: list[tuple[str, np.ndarray | None]], cfg: BenchConfig) -> None:
    cfg.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "images": [name for name, _ in crops],
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "knobs": {c: CODECS[c].knob for c in CODECS},
    }
    (cfg.out / "keyframe_codecs.json").write_text(json.dumps({"meta": meta, "choice": choice, "rows": rows}, indent=2) + "\n")
    plot(rows, choice, cfg)
    (cfg.out / "keyframe_codecs.md").write_text(markdown(rows, choice, crops, cfg))


def plot(rows: list[dict], choice: dict, cfg: BenchConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for codec in dict.fromkeys(r["codec"] for r in rows):
        pts = sorted((r["bytes"] / 1000, r["psnr"]) for r in rows if r["codec"] == codec)
        ax.plot(*zip(*pts), marker="o", label=codec + (" (chosen)" if codec == choice["codec"] else ""))
    ax.axvspan(*cfg.band_kb, color="0.9", zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel("keyframe size (KB, log scale)")
    ax.set_ylabel("PSNR (dB, RGB)")
    ax.set_title(f"Keyframe codecs on {cfg.size}x{cfg.size} face crops (mean per setting)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(cfg.out / "keyframe_codecs.png", dpi=120)
    plt.close(fig)


def markdown(rows: list[dict], choice: dict, crops: list[tuple[str, np.ndarray]], cfg: BenchConfig) -> str:
    d = choice["at_default"]
    lines = [
        "# Keyframe codec choice",
        "",
        f"`python -m benchmarks.keyframe_codecs`: {len(crops)} face crops ({cfg.size}x{cfg.size}, MediaPipe box x{cfg.box_scale}, "
        f"one frame at {cfg.at_seconds:g} s per dev clip), mean over images per setting. PSNR on RGB, SSIM on luma. "
        "Times are wall clock on a shared 2-core CPU, subprocess start included for the codecs run through the "
        "imageio-ffmpeg binary (VVC encode, JPEG XL).",
        "",
        f"**Choice: `{choice['codec']}` at quality {choice['quality']}** ({CODECS[choice['codec']].knob}): "
        f"{d['bytes']:.0f} B mean ({d['bytes_min']}-{d['bytes_max']}), {d['psnr']:.2f} dB, SSIM {d['ssim']:.4f}.",
        "",
        f"Ranking: mean PSNR over {choice['ranking_band_kb'][0]:.2f}-{choice['ranking_band_kb'][1]:.2f} KB, the part of the "
        f"{cfg.band_kb[0]:g}-{cfg.band_kb[1]:g} KB target band that every codec's sweep covers (interpolated on log size, "
        f"never extrapolated); default quality: the sweep point nearest {cfg.target_kb:g} KB. PSNR at fixed sizes beside it "
        "(n/a: outside that codec's sweep).",
        "",
        "| codec | ranking PSNR (dB) | " + " | ".join(f"@{kb} KB" for kb in REPORT_KB) + f" | quality nearest {cfg.target_kb:g} KB |",
        "|---|---|" + "---|" * len(REPORT_KB) + "---|",
    ]
    for c, s in sorted(choice["band_psnr"].items(), key=lambda kv: -kv[1]):
        at = " | ".join("n/a" if v is None else f"{v:.2f}" for v in choice["psnr_at_kb"][c].values())
        lines.append(f"| {c} | {s:.2f} | {at} | {choice['per_codec_quality_near_target'][c]} |")
    lines += ["", "| codec | quality | bytes (mean) | min-max | PSNR dB | SSIM | encode ms | decode ms |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['codec']} | {r['quality']} | {r['bytes']:.0f} | {r['bytes_min']}-{r['bytes_max']} | {r['psnr']:.2f} | "
            f"{r['ssim']:.4f} | {r['encode_ms']:.1f} | {r['decode_ms']:.1f} |"
        )
    lines += ["", "Quality knobs: " + "; ".join(f"{c}: {CODECS[c].knob}" for c in CODECS), "", "![PSNR vs size](keyframe_codecs.png)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    cfg = BenchConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=cfg.data)
    p.add_argument("--images", type=int, default=cfg.images)
    p.add_argument("--out", type=Path, default=cfg.out)
    p.add_argument("--rescore", action="store_true", help="recompute the choice and report from the saved JSON, no re-measuring")
    args = p.parse_args(argv)
    cfg.data, cfg.images, cfg.out = args.data, args.images, args.out
    if args.rescore:
        saved = json.loads((cfg.out / "keyframe_codecs.json").read_text())
        rows, names = saved["rows"], saved["meta"]["images"]
        choice = choose(rows, cfg)
        write_results(rows, choice, [(n, None) for n in names], cfg)
        print(f"choice: {choice['codec']} quality {choice['quality']} (rescored)")
        return 0
    crops = load_crops(cfg)
    if not crops:
        raise SystemExit(f"no face crops found under {cfg.data}")
    print(f"{len(crops)} face crops; codecs: {', '.join(available_codecs())}", flush=True)
    rows = measure(crops, cfg)
    choice = choose(rows, cfg)
    write_results(rows, choice, crops, cfg)
    print(f"choice: {choice['codec']} quality {choice['quality']}; wrote {cfg.out}/keyframe_codecs.{{json,md,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
