"""The user-facing defaults that the `avfr` command and the Python API share.

The command's flags (avfr/cli.py) and the options a Python caller builds (``EncodeOptions``,
``SendOptions``, ``DecodeOptions``, ``ReceiveOptions``, ``run_demo``, the training and
benchmark tools' ``--data``) read their defaults from here, so that ``avfr send`` and
``send_call(SendOptions(...))`` run the same call. It sits in the library, below the sender
and the receiver, because both ends have defaults the command shows; it imports nothing
heavy, because ``avfr --help`` reads it. Defaults that belong to one setting's own dataclass
(motion steps: ``CompactMotionParams``; refresh: ``RefreshConfig``; play-out delay:
``PlayoutConfig``) stay there, and the command reads them from there.
"""

from __future__ import annotations

from pathlib import Path

from codec.audio_features import DEFAULT as _MEL

MOTION_CODING = "compact"  # or "raw", the paper's 960 bits a frame
DEVICE = "auto"  # where the networks run: CUDA if there is one, else the CPU (codec.model.pick_device)

AUDIO_KBPS = 16  # Opus speech bitrate, of a file and of a call
AUDIO_SAMPLE_RATE = _MEL.sample_rate  # Opus input rate: the model's own, so the receiver need not resample

# A live call loses packets; a file does not. With 10% loss, the chance that a predicted motion
# frame is decodable falls as 0.9^k after its self-contained frame: ~37% of frames on average at
# an intra period of 25, ~82% at 5, for ~1 kbit/s more (benchmarks/results/call.md).
CALL_INTRA_PERIOD = 5
# Each data-channel message costs ~90 bytes of UDP/IP, DTLS and SCTP framing, several times a
# compact motion frame. Measured on loopback over three runs (benchmarks/results/call.md): one
# frame per message costs 32 kbit/s of overhead; 2 per message 23 kbit/s with 0-1 late frames
# in 250; 3: 20 kbit/s, 1-8 late; 4: 18 kbit/s, 2-9 late (a late frame also breaks prediction
# until the next self-contained frame). Latency is unchanged: the play-out delay absorbs the wait.
CALL_BUNDLE = 2
# Opus packets of a call (codec/call/opus_rtp.py): each carries ~50 bytes of IPv4/UDP/SRTP/RTP
# headers. Measured (benchmarks/results/call.md): 60 ms packets take the speech from 31 to 21
# kbit/s on the wire and the call from 61 to 44, for 40 ms more packetisation.
CALL_AUDIO_FRAME_MS = 60

RECEIVE_SIZE = 256  # pixels a side a call is shown (and recorded) at, whatever the stream's size
WEB_HOST = "127.0.0.1"  # the page of a call (--web) is served to this machine only unless asked

DEMO_MAX_FRAMES = 125  # 5 s at 25 fps: a demo that a new user waits a minute for

# Where `avfr prepare`'s output is looked for (the training configs write it out too, in YAML).
PREPARED_DATA = "~/.cache/avfr/prepared"
PREPARED_SIZES = (256, 128)  # crop sizes `avfr prepare` stores: the light-256 and light-128 models'


def prepared_dir(split: str = "") -> Path:
    """:data:`PREPARED_DATA`, or one of its parts (``dev``), with the home folder expanded."""
    return Path(PREPARED_DATA, split).expanduser()
