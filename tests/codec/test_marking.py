"""What a receiver marks: metadata from the stream header, the visible label, the invisible mark."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codec.marking import PictureMarking, described_origin, draw_label
from codec.media import video_io
from codec.media.public_face import public_photo
from codec.model_input import resize_rgb
from codec.watermark import luma, mark_score
from proto import avfr_pb2


def header(origin: int) -> avfr_pb2.StreamHeader:
    h = avfr_pb2.StreamHeader()
    h.picture_origin = origin
    return h


def test_label_is_on_by_default_for_a_chosen_photo_only_and_follows_the_users_choice() -> None:
    photo = header(avfr_pb2.PICTURE_ORIGIN_SYNTHESISED_FROM_CHOSEN_PHOTO)
    camera = header(avfr_pb2.PICTURE_ORIGIN_SYNTHESISED_FROM_CAMERA)
    assert PictureMarking.for_stream(photo) == PictureMarking(chosen_photo=True, label=True)
    assert PictureMarking.for_stream(camera) == PictureMarking(chosen_photo=False, label=False)
    assert PictureMarking.for_stream(header(avfr_pb2.PICTURE_ORIGIN_UNSPECIFIED)).chosen_photo is False  # streams from before the field
    assert PictureMarking.for_stream(photo, label=False).label is False
    assert PictureMarking.for_stream(camera, label=True).label is True
    assert PictureMarking.for_stream(header(7)).chosen_photo is False  # a value from a later version: still marked as synthesised


def test_metadata_says_synthesised_and_from_a_photo_and_is_read_back_from_the_mp4(tmp_path: Path) -> None:
    frames = [resize_rgb(public_photo(), 64)] * 3
    for chosen, words in ((False, "sender's camera"), (True, "photo the sender chose")):
        marking = PictureMarking(chosen_photo=chosen)
        path = tmp_path / f"{chosen}.mp4"
        video_io.write_video(path, frames, metadata=marking.metadata())
        tags = video_io.read_metadata(path)
        assert "Synthesised by an avfr receiver" in tags["comment"]
        assert ("photo the sender chose" in tags["comment"]) is chosen
        assert words in described_origin(tags)
    assert described_origin({"comment": "a holiday film"}) is None


def test_label_sits_in_the_bottom_left_corner_and_the_mark_covers_the_labelled_picture() -> None:
    picture = resize_rgb(public_photo(), 128)
    labelled = draw_label(picture, "AI avatar")
    changed = np.argwhere(np.any(labelled != picture, axis=-1))
    assert len(changed) > 100
    assert changed[:, 0].min() > 128 * 0.75 and changed[:, 1].max() < 128 * 0.6
    out = PictureMarking(chosen_photo=True, label=True).apply(picture)
    assert np.any(out != labelled) and mark_score(luma(out)) > 10
