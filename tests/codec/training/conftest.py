"""A small real prepared set (two short dev clips, at the default model's 256 px and at 128), made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from codec.training.prepare import prepare

CLIPS = ["ali-vilab__dreamtalk__W011_front_angry_level3_001.mp4", "rizkiarm__LipNet__lbbc2a.mpg"]


@pytest.fixture(scope="session")
def prepared(talking_heads: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    for name in CLIPS:
        (raw / name).symlink_to(talking_heads / "dev" / name)
    out = tmp_path_factory.mktemp("prepared")
    report = prepare(raw, out, sizes=(256, 128), manifest=talking_heads / "MANIFEST.tsv", progress=False)
    assert report.clips_done == 2 and not report.clips_skipped, report.summary()
    return out
