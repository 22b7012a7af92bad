"""Progress bars for long work: one place, so every command looks the same."""

from __future__ import annotations

import sys
from typing import Any, Iterable

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it", disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr (stdout stays for results), over `iterable` or updated by hand."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr, dynamic_ncols=True, **kwargs)
