"""A slice of the fuzz benchmark (CI's share of benchmarks/results/fuzz.md's run): every
mutation kind, every reader, and no rule broken."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.fuzz import MUTATION_FAILED, MUTATIONS, REPO, load_seeds

INPUTS = 1500


def test_a_fuzz_slice_breaks_no_rule(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.fuzz", "--inputs", str(INPUTS), "--memory-every", "5",
               "--out", str(tmp_path), "--findings", str(tmp_path / "findings")]  # fmt: skip
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "fuzz.json").read_text())
    assert result["inputs"] == INPUTS and result["findings"] == [], result["findings"]
    assert result["exceptions_found"] == 0 and result["slowest_input_ms"] < 1000
    assert set(MUTATIONS) | {"libfuzzer_bytes"} <= set(result["by_mutation"])
    assert result["memory_checked_inputs"] >= INPUTS // 5 and result["refused_with_an_avfr_error"] > 0
    assert (tmp_path / "fuzz.md").read_text().startswith("# Fuzzing the stream readers")


def test_a_mutation_that_raises_stops_the_campaign(tmp_path: Path) -> None:
    """libFuzzer would hang on a raising custom mutator: the campaign exits with its own code."""
    script = (
        "import benchmarks.fuzz as f\n"
        "def broken(rng, data, seeds): raise ValueError('broken mutation')\n"
        "f.MUTATIONS.clear(); f.MUTATIONS['broken'] = broken\n"
        f"f.fuzz(50, 1, __import__('pathlib').Path({str(tmp_path)!r}), lambda c: None)\n"
    )  # fmt: skip
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == MUTATION_FAILED, run.stderr[-3000:]
    assert "the mutation broken raised" in run.stderr and "ValueError: broken mutation" in run.stderr


def test_the_seeds_are_real_intact_streams() -> None:
    from codec.bitstream.container import AvfrReader
    from codec.bitstream.index import StreamIndex
    from codec.bitstream.info import describe_file

    seeds = load_seeds()
    assert {"compact.avfr", "rate.avfr", "raw.avfr", "v1.avfr"} <= set(seeds)
    for name in seeds:
        path = REPO / "benchmarks" / "fuzz_seeds" / name
        info = describe_file(path)
        assert info.complete and info.frames > 0 and info.keyframes == 1, name
        reader = AvfrReader(path)
        StreamIndex.scan(reader)
        assert reader.version == (1 if name == "v1.avfr" else 2)
