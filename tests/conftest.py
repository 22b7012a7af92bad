"""Shared fixtures: where the real data is, and small real inputs made once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data() -> Path | None:
    env = os.environ.get("AVFR_SHARED_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "talking-heads"]:
        if (candidate / "dev").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def talking_heads() -> Path:
    """../shared/data/talking-heads, or skip: the project must also test without it."""
    root = shared_data()
    if root is None:
        pytest.skip("../shared/data/talking-heads is not beside the checkout (set AVFR_SHARED_DATA)")
    return root


@pytest.fixture(scope="session")
def dev_clip(talking_heads: Path) -> Path:
    """A short real dev clip with speech and a frontal face."""
    return talking_heads / "dev" / "OpenTalker__SadTalker__WDA_KatieHill_000.mp4"
