"""The one face avfr may show without research data: NASA's astronaut portrait (public domain,
shipped by scikit-image), as a still photo and as a short synthetic talking clip.

It lives in the library because the model card's committed pictures, the tests and the
benchmarks' seed streams need a face as much as `avfr demo` does on a machine without the
talking-head data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codec.media import video_io


def public_photo() -> np.ndarray:
    """NASA's astronaut portrait (public domain, shipped by scikit-image): face and shoulders,
    240x240 RGB. The one face avfr may show in committed pictures without research data."""
    from skimage import data as skdata

    return np.ascontiguousarray(skdata.astronaut()[20:260, 110:350])


def synthetic_clip(path: Path, frames: int = 125, fps: float = 25.0, size: int = 320) -> Path:
    """A clip made from the astronaut photo: slow head sway and zoom, a voiced tone for audio."""
    import torch
    import torch.nn.functional as F

    from codec.model_input import to_pictures, to_uint8_rgb

    photo = public_photo()
    base = to_pictures(photo[None])

    def frame(i: int) -> np.ndarray:
        t = i / fps
        angle, shift, zoom = 0.06 * np.sin(2 * np.pi * 0.4 * t), 0.05 * np.sin(2 * np.pi * 0.25 * t), 1.0 + 0.04 * np.sin(2 * np.pi * 0.3 * t)
        c, s = np.cos(angle) / zoom, np.sin(angle) / zoom
        theta = torch.tensor([[[c, -s, shift], [s, c, 0.0]]], dtype=torch.float32)
        grid = F.affine_grid(theta, [1, 3, size, size], align_corners=False)
        out = F.grid_sample(base, grid, padding_mode="border", align_corners=False)
        return to_uint8_rgb(out[0])

    rate = 16000
    t = np.arange(int(frames / fps * rate)) / rate
    voice = 0.2 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    video_io.write_video(path, (frame(i) for i in range(frames)), fps=fps, audio=voice.astype(np.float32), sample_rate=rate)
    return path
