"""What runs (.avfr container version 3) save: the same streams framed one record per packet
(version 2) and with runs, per encoder preset.

    python -m benchmarks.container_runs [--data DIR] [--clips 6] [--max-frames 250]
                                        [--presets default,2k,8k,16k,30k] [--out benchmarks/results]
                                        [--name container_runs] [--force]

Each dev clip is encoded once per preset by the real sender (which writes runs); the same
packets are then written again one record each, as avfr did before runs, and `avfr info`'s
accounting (``codec.bitstream.info.describe_file``) measures both files. The pictures are the
same by construction (the reader gives back the very packets, tests/codec/bitstream/test_runs.py),
so only bits are compared: video (keyframes + motion + their framing), the speech's framing,
and the whole file, at most 250 frames a clip as in `benchmarks.rd`. Run time: presets x
clips sender passes: the defaults (5 x 6 x 250 frames) ~5 min on 2 shared cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from benchmarks.provenance import refuse_overwrite, run_cli, write_results
from benchmarks.rd import DEFAULT_DATA, REPO, _mean, list_clips


@dataclass
class ContainerRunsConfig:
    data: Path = DEFAULT_DATA
    clips: int = 6
    max_frames: int = 250
    presets: list[str] = field(default_factory=lambda: ["default", "2k", "8k", "16k", "30k"])
    out: Path = REPO / "benchmarks" / "results"
    name: str = "container_runs"
    force: bool = False


def rewrite_without_runs(stream: Path, out: Path) -> Path:
    """The same packets, one record each (format version 2)."""
    from codec.bitstream.container import AvfrReader, AvfrWriter

    with AvfrWriter(out, overwrite=True, runs=False) as writer:
        for packet in AvfrReader(stream):
            writer.write(packet)
    return out


def bits_of(stream: Path) -> dict[str, float]:
    from codec.bitstream.info import describe_file

    info = describe_file(stream)
    seconds = info.duration_s
    return {"video_kbps": info.kbps("video"), "speech_framing_kbps": 8 * info.audio_framing / seconds / 1000,
            "total_kbps": info.kbps("total"), "records_overhead_kbps": info.kbps("overhead")}  # fmt: skip


def measure_clip(clip: Path, preset_name: str, max_frames: int, workdir: Path) -> dict:
    from sender.encoder import encode_file
    from sender.presets import EncodeSettings, preset

    settings = EncodeSettings() if preset_name == "default" else preset(preset_name).settings
    stream = workdir / f"{clip.stem}-{preset_name}.avfr"
    encode_file(clip, stream, settings.options(max_frames=max_frames), progress=False)
    with_runs, without = bits_of(stream), bits_of(rewrite_without_runs(stream, workdir / "v2.avfr"))
    return {"clip": clip.name, "preset": preset_name, "runs": with_runs, "records": without}


def aggregate(rows: list[dict], presets: Sequence[str]) -> list[dict]:
    out = []
    for name in presets:
        mine = [r for r in rows if r["preset"] == name]
        entry = {"preset": name, "clips": len(mine)}
        for layout in ("records", "runs"):
            entry[layout] = {k: _mean([r[layout][k] for r in mine]) for k in mine[0][layout]}
        entry["video_saved_kbps"] = entry["records"]["video_kbps"] - entry["runs"]["video_kbps"]
        entry["total_saved_kbps"] = entry["records"]["total_kbps"] - entry["runs"]["total_kbps"]
        out.append(entry)
    return out


def run(cfg: ContainerRunsConfig, argv: Sequence[str] = ()) -> dict:
    from codec.progress import progress_bar

    refuse_overwrite(cfg.out, cfg.name, cfg.force)
    clips = list_clips(cfg.data, cfg.clips)
    started, rows = time.time(), []
    with tempfile.TemporaryDirectory() as tmp:
        bar = progress_bar(total=len(clips) * len(cfg.presets), desc="container runs", unit="encode")
        for clip in clips:
            for name in cfg.presets:
                rows.append(measure_clip(clip, name, cfg.max_frames, Path(tmp)))
                bar.update(1)
        bar.close()
    result = {"command": [sys.executable, "-m", "benchmarks.container_runs", *argv], "config": {**asdict(cfg), "data": str(cfg.data), "out": str(cfg.out)},
              "per_preset": aggregate(rows, cfg.presets), "per_clip": rows, "wall_s": time.time() - started}  # fmt: skip
    write_results(cfg.out, cfg.name, result, markdown, plot, image_alt="kbit/s per preset, one record per packet against runs")
    return result


def markdown(result: dict) -> str:
    c = result["config"]
    lines = [
        "# Runs: what the .avfr container's framing costs, one record per packet (version 2) against runs (version 3)",
        "",
        f"`python -m benchmarks.container_runs`: {result['per_preset'][0]['clips']} dev clip(s), at most {c['max_frames']} frames each; "
        "each clip encoded once per preset by the real sender, the same packets written both ways, measured by `avfr info`'s accounting. "
        "Same packets, so the same pictures.",
        "",
        "| preset | video kbit/s: records | runs | saved | speech framing: records | runs | whole file: records | runs | saved |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in result["per_preset"]:
        a, b = e["records"], e["runs"]
        lines.append(f"| `{e['preset']}` | {a['video_kbps']:.2f} | {b['video_kbps']:.2f} | {e['video_saved_kbps']:.2f} | "
                     f"{a['speech_framing_kbps']:.2f} | {b['speech_framing_kbps']:.2f} | {a['total_kbps']:.2f} | {b['total_kbps']:.2f} | "
                     f"{e['total_saved_kbps']:.2f} |")  # fmt: skip
    lines += ["", "video = keyframes + motion + their framing (what `benchmarks.rd` compares with VVC); whole file = video + Opus + the speech's framing.",
              f"Wall time {result['wall_s']:.0f} s.", ""]  # fmt: skip
    return "\n".join(lines)


def plot(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from benchmarks.plots import save_figure

    entries = result["per_preset"]
    x = np.arange(len(entries))
    fig, ax = plt.subplots(figsize=(7, 4))
    for shift, layout, colour in ((-0.2, "records", "tab:grey"), (0.2, "runs", "tab:blue")):
        video = [e[layout]["video_kbps"] for e in entries]
        rest = [e[layout]["total_kbps"] - e[layout]["video_kbps"] for e in entries]
        ax.bar(x + shift, video, 0.38, color=colour, label=f"video, {layout}")
        ax.bar(x + shift, rest, 0.38, bottom=video, color=colour, alpha=0.4, label=f"speech + its framing, {layout}")
    ax.set_xticks(x, [e["preset"] for e in entries])
    ax.set_ylim(0, 1.4 * max(e["records"]["total_kbps"] for e in entries))  # room for the legend
    return save_figure(fig, ax, path, "preset", "kbit/s (mean over clips)")


def parse_args(argv: Sequence[str]) -> ContainerRunsConfig:
    p = argparse.ArgumentParser(prog="python -m benchmarks.container_runs", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--clips", type=int, default=6)
    p.add_argument("--max-frames", type=int, default=250)
    p.add_argument("--presets", default="default,2k,8k,16k,30k", help="comma-separated: default and `avfr encode --preset` names")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--name", default="container_runs")
    p.add_argument("--force", action="store_true", help="overwrite earlier results of the same name")
    a = p.parse_args(argv)
    return ContainerRunsConfig(a.data, a.clips, a.max_frames, a.presets.split(","), a.out, a.name, a.force)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = parse_args(argv)
    return run_cli(lambda: run(cfg, argv), markdown)


if __name__ == "__main__":
    sys.exit(main())
