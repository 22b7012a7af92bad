"""Progress bars for long work: one place, so every command looks the same."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, hidden when asked or when stderr is not a terminal in CI logs."""
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr, dynamic_ncols=True, **kwargs)
