"""Where and with what a benchmark ran: every results JSON carries this, so numbers can be
compared only when machines and versions match."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("avfr", "torch", "numpy", "scipy", "mediapipe", "opencv-contrib-python", "imageio-ffmpeg", "av", "matplotlib", "protobuf")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    import torch

    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_start": list(os.getloadavg()),
    }


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _read_git_state() -> dict[str, object]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


_GIT_AT_IMPORT = _read_git_state()


def git_state() -> dict[str, object]:
    """The commit of the code this process loaded, read when the benchmarks were imported: a
    commit that lands while a long run goes on must not rename the code that ran."""
    return dict(_GIT_AT_IMPORT)


def refuse_overwrite(out_dir: Path, name: str, force: bool, suffixes: tuple[str, ...] = ("json", "md", "png")) -> None:
    """A benchmark never overwrites earlier results unless told to (``--force``)."""
    from codec.errors import AvfrError

    existing = [out_dir / f"{name}.{s}" for s in suffixes if (out_dir / f"{name}.{s}").exists()]
    if existing and not force:
        raise AvfrError(f"{existing[0]} exists: pass --force to overwrite, or --name for another")


def run_cli(run: Callable[[], dict], markdown: Callable[[dict], str]) -> int:
    """A benchmark's entry point: run, print its table; a user's mistake is one line and exit 1."""
    from codec.errors import AvfrError

    try:
        result = run()
    except AvfrError as err:
        if os.environ.get("AVFR_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(markdown(result), end="")
    return 0


def write_results(
    out_dir: Path,
    name: str,
    result: dict,
    markdown: Callable[[dict], str],
    plot: Callable[[dict, Path], object],
    image_alt: str | None = None,
) -> str:
    """``result`` with its provenance as ``name.json``, its table as ``name.md`` (linking the
    plot when ``image_alt`` is given) and its plot as ``name.png``; returns the table."""
    result |= {"machine": machine(), "versions": package_versions(), "git": git_state()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
    table = markdown(result)
    (out_dir / f"{name}.md").write_text(table + (f"\n![{image_alt}]({name}.png)\n" if image_alt else ""))
    plot(result, out_dir / f"{name}.png")
    return table
