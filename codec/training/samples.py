"""Sample grids (source | driving | generated) so a person can see how training goes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from codec.model_input import to_uint8_rgb


def grid(rows: list[list[np.ndarray]], pad: int = 2) -> np.ndarray:
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y : y + h, x : x + w] = img
    return out


@torch.no_grad()
def save_sample_grid(model: torch.nn.Module, batch: dict[str, torch.Tensor], path: Path, device: torch.device, max_rows: int = 4) -> None:
    was_training = model.training
    model.eval()
    source = batch["source"][:max_rows].to(device)
    driving = batch["driving"][:max_rows].to(device)
    mel = batch["mel"][:max_rows].to(device)
    generated = model(source, driving, mel)["prediction"]
    rows = [[to_uint8_rgb(source[i]), to_uint8_rgb(driving[i]), to_uint8_rgb(generated[i])] for i in range(source.shape[0])]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(rows)).save(path)
    model.train(was_training)
