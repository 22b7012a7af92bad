"""`avfr demo`: the main job in one command, on a real talking-head clip.

Encodes a clip with the bundled model, decodes it, and writes beside each other the face the
sender saw and what the receiver rebuilt, plus the bit accounting, so a new user sees in a
minute what avfr does and what it costs. With no clip given it takes one from
``../shared/data/talking-heads/dev/`` when that folder exists; on a machine without it, it
animates a public-domain photo that scikit-image ships (NASA's astronaut portrait) with a
synthetic head motion, and says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from codec.defaults import DEMO_MAX_FRAMES
from codec.errors import OutputExistsError
from codec.media.public_face import synthetic_clip

DEFAULT_CLIP = "OpenTalker__SadTalker__WDA_KatieHill_000.mp4"


def shared_data_dir() -> Path | None:
    """../shared/data/talking-heads beside the checkout (CI's layout), or $AVFR_SHARED_DATA."""
    env = os.environ.get("AVFR_SHARED_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p.parent / "shared" / "data" / "talking-heads" for p in here.parents]
    for c in candidates:
        if (c / "dev").is_dir():
            return c
    return None


def resolve_input(input_path: Path | None, out_dir: Path) -> tuple[Path, str]:
    if input_path is not None:
        return input_path, "your clip"
    shared = shared_data_dir()
    if shared is not None and (shared / "dev" / DEFAULT_CLIP).exists():
        return shared / "dev" / DEFAULT_CLIP, f"a dev clip from {shared} (an identity the model never saw in training)"
    path = out_dir / "astronaut_input.mp4"
    return synthetic_clip(path), "no talking-head data here: a synthetic clip animating scikit-image's astronaut photo"


def run_demo(input_path: Path | None, out_dir: Path, max_frames: int = DEMO_MAX_FRAMES, force: bool = False) -> int:
    from codec.bitstream.info import describe_file
    from codec.evaluation import compare_videos, side_by_side
    from receiver.decoder import DecodeOptions, decode_file
    from sender.encoder import EncodeOptions, encode_file

    out_dir = Path(out_dir)
    stream, decoded, reference = out_dir / "demo.avfr", out_dir / "decoded.mp4", out_dir / "sender_view.mp4"
    for p in (stream, decoded, reference):
        if p.exists() and not force:
            raise OutputExistsError(f"{p} exists from an earlier demo: pass --force to redo it, or --out-dir elsewhere")
    out_dir.mkdir(parents=True, exist_ok=True)
    clip, origin = resolve_input(input_path, out_dir)
    print(f"demo input: {clip} ({origin})")
    enc = encode_file(clip, stream, EncodeOptions(max_frames=max_frames, save_crops_to=reference))
    print(enc.summary())
    dec = decode_file(stream, decoded, DecodeOptions())
    print(dec.summary())
    info = describe_file(stream)
    (out_dir / "info.txt").write_text(info.to_text() + "\n")
    print(info.to_text())
    metrics = compare_videos(reference, decoded)
    side_by_side(reference, decoded, out_dir / "side_by_side.mp4", out_dir / "side_by_side.png")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"quality against the sender's face crop: PSNR {metrics['psnr_db']:.2f} dB, "
        f"'repeat the keyframe' would give {metrics['repeat_keyframe_psnr_db']:.2f} dB"
    )
    print(
        f"outputs in {out_dir}/: decoded.mp4 (the receiver's video with sound), side_by_side.mp4/.png "
        f"(sender's view | receiver), demo.avfr, info.txt, metrics.json"
    )
    return 0
