"""Avatar mode: the receiver sees a photo the user chose, moving as the camera's face moves.

The keyframe is the face found in the photo, framed as the tracker frames the camera's face
(``codec/face_tracker.py``), so the two crops agree on where a head sits. Every keyframe of
the stream is that photo: refreshes re-send it, never a camera picture, and the sender's
quality self-check (its render against the camera) is off, since it would judge the photo by
the camera. The camera's keypoints are applied relative to the first frame, as FOMM's
relative mode does (``codec/motion.py``): the photo keeps its own proportions and pose at rest.

The photo is checked once, before anything is sent: it must be readable, show exactly one
face, and that face must be large enough that its crop is at least half the model's
resolution (a smaller one would be upscaled into a blur).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from codec.errors import InputError, NoFaceError
from codec.face_tracker import CropConfig, FaceDetector, crop_box, crop_square_for_face, fit_to_frame
from codec.model_input import crop_size_for
from codec.motion import relative_keypoints

MIN_CROP_SHARE = 0.5  # the photo's face crop must be at least this share of the model's size, in its own pixels


def read_photo(path: Path) -> np.ndarray:
    """The photo as HxWx3 uint8 RGB, turned upright by its EXIF orientation (phone photos)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist: give the photo to animate to --avatar")
    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {path} as a picture ({type(exc).__name__}): give a JPEG or PNG photo to --avatar") from None


def avatar_crop(path: Path, model_size: int) -> np.ndarray:
    """The face crop of the photo (``crop_size_for(model_size)`` px square), or a one-line
    error saying what is wrong with the photo."""
    rgb = read_photo(path)
    with FaceDetector() as detector:
        faces = detector.detect(rgb)
    if not faces:
        raise NoFaceError(f"no face found in {path}: give --avatar a photo of one face, looking at the camera")
    if len(faces) > 1:
        raise InputError(f"{path} shows {len(faces)} faces: give --avatar a photo of one face (crop it to the one you want)")
    config = CropConfig(out_size=crop_size_for(model_size))
    box = fit_to_frame(crop_square_for_face(faces[0][0], config), rgb.shape[:2], config)
    needed = MIN_CROP_SHARE * model_size
    if box[2] - box[0] < needed:
        face_px = max(faces[0][0][2] - faces[0][0][0], faces[0][0][3] - faces[0][0][1])
        raise InputError(
            f"the face in {path} is only {face_px:.0f} px across: this model needs at least "
            f"{math.ceil(needed / config.scale)} px, so give --avatar a larger or closer photo"
        )
    return crop_box(rgb, box, config.out_size)


@dataclass
class Avatar:
    """The photo's coded keyframe and the camera's motion moved onto its face."""

    keyframe: bytes
    source_keypoints: torch.Tensor  # [K, 6]: the photo's, as the receiver computes them from the keyframe
    first: torch.Tensor | None = field(default=None, repr=False)  # the camera's keypoints the motion is relative to

    def restart(self, camera_keypoints: np.ndarray) -> None:
        """Motion from here on is relative to this camera frame (the first, or after a cut)."""
        self.first = torch.from_numpy(np.asarray(camera_keypoints, np.float32))

    def keypoints(self, camera_keypoints: np.ndarray) -> np.ndarray:
        """The keypoints to send for a camera frame: the photo's, moved as the camera's face moved."""
        if self.first is None:
            self.restart(camera_keypoints)
        driving = torch.from_numpy(np.asarray(camera_keypoints, np.float32))
        return relative_keypoints(self.source_keypoints, driving, self.first).numpy()


__all__ = ["Avatar", "avatar_crop", "read_photo"]
