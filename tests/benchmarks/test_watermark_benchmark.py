"""The mark's benchmark, on one dev clip: it runs end to end and its table says what it measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.watermark import STAGES, main


@pytest.mark.data
def test_smoke_run_measures_the_mark_and_writes_its_results(talking_heads: Path, tmp_path: Path) -> None:
    assert main(["--smoke", "--clips", str(talking_heads / "dev"), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "watermark.json").read_text())
    ours = result["summary"]["avfr-dct"]
    assert ours["true_positive_rate"]["decoded"] == ours["true_positive_rate"]["reencoded"] == 1.0
    assert set(ours["true_positive_rate"]) == set(STAGES)
    assert not any(ours["false_positive_rate"].values())
    assert ours["psnr_db"] > 45 and 0 < ours["embed_ms"] < 50
    assert "| avfr-dct |" in (tmp_path / "watermark.md").read_text() and (tmp_path / "watermark.png").exists()
    assert main(["--smoke", "--clips", str(talking_heads / "dev"), "--out", str(tmp_path)]) == 2  # results are not overwritten unasked
