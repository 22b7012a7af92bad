"""The rate-distortion runner end to end, in its smoke configuration (what CI runs).

One run (module-scoped, ~1 min on an idle 2-core machine) feeds every check: every metric
for every codec point, VVC bits, the avfr bit accounting against the kept .avfr files, the
plots and the Markdown table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.rd import FACE_METRICS, METRICS, main
from codec.bitstream.container import PREAMBLE_BYTES, AvfrReader, decode_varint, encode_varint
from codec.bitstream.info import describe_file
from codec.zoo import default_model_path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model, or a random-init light-128 while the trained one does not exist yet."""
    if default_model_path().is_file():
        return default_model_path()
    from codec.config import load_config
    from codec.model import AVFRModel, save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "random-light-128.safetensors"
    save_model(AVFRModel(load_config("light-128")), path, dtype=torch.float16)
    return path


@pytest.fixture(scope="module")
def smoke(talking_heads: Path, metric_weights: None, model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from benchmarks.vvc import AnchorError, check_ffmpeg

    try:
        check_ffmpeg()
    except AnchorError as exc:
        pytest.skip(f"no VVC anchor: {exc}")
    out = tmp_path_factory.mktemp("rd")
    argv = ["--smoke", "--data", str(talking_heads / "dev"), "--model", str(model_path), "--out", str(out / "results"),
            "--keep-streams", str(out / "streams"), "--work", str(out / "work"), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((out / "results" / "rd-smoke.json").read_text())
    return {"out": out, "result": result, "argv": argv}


def test_every_point_has_every_metric(smoke: dict) -> None:
    result = smoke["result"]
    expected = {"avfr", "avfr-1key", "avfr-raw", "avfr-2k", "avfr-30k", "repeat-keyframe", "vvc-qp37", "vvc-qp52", "vvc-match"}
    assert set(result["aggregate"]) == expected
    assert result["clips_run"] == 2
    for key, point in result["aggregate"].items():
        for field in ("kbps", "bpp", *METRICS, *FACE_METRICS):
            assert point[field] is not None, f"{key}: {field} missing"
    avfr = result["aggregate"]["avfr"]  # the smoke clips have speech: avfr is also rendered with silence
    assert avfr["speech_clips"] == 2 and all(avfr[f"speech_clips_{m}_without_speech"] is not None for m in FACE_METRICS)
    assert result["aggregate"]["repeat-keyframe"]["mouth_corr"] == pytest.approx(0.0, abs=0.5)  # a still mouth follows nothing
    for clip in result["clips"]:
        assert clip["frames"] == 12
        assert set(clip["points"]) == expected
        for key, point in clip["points"].items():
            for field in ("kbps", "bpp", *(m for m in METRICS if m != "fid")):
                assert point[field] is not None, f"{clip['clip']} {key}: {field} missing"


def test_curve_comparison_and_whole_call_bits(smoke: dict) -> None:
    result = smoke["result"]
    for metric in ("lpips", "dists", "psnr"):
        c = result["curves"][metric]
        assert len(c["bd_rate_per_clip"]) == 2 and c["crossover_text"]
        assert (c["bd_rate_mean_curve"] is None) == c["bd_rate_note"].startswith("n/a")
    for key in ("avfr", "avfr-2k", "avfr-30k"):
        p = result["aggregate"][key]
        parts = p["keyframes_kbps"] + p["motion_kbps"] + p["speech_kbps"] + p["container_kbps"]
        assert parts == pytest.approx(p["total_kbps"], rel=1e-9)  # the file, every byte
        assert p["kbps"] == pytest.approx(p["total_kbps"] - p["speech_kbps"] - p["speech_framing_kbps"], rel=1e-9)
    assert result["aggregate"]["avfr-2k"]["kbps"] < result["aggregate"]["avfr-30k"]["kbps"]
    assert result["aggregate"]["vvc-qp37"]["total_with_speech_kbps"] > result["aggregate"]["vvc-qp37"]["kbps"]
    fid = result["aggregate"]["avfr"]
    assert fid["fid_comparable"] is False and fid["fid_interval"][0] <= fid["fid_interval"][1]  # smoke: far fewer than 500 frames
    table = (smoke["out"] / "results" / "rd-smoke.md").read_text()
    assert "BD-rate" in table and "Whole-call bits" in table and " n/c" in table


def test_vvc_points_have_bits_and_commands(smoke: dict) -> None:
    for clip in smoke["result"]["clips"]:
        for key, point in clip["points"].items():
            if key.startswith("vvc"):
                assert point["video_bits"] > 0 and point["kbps"] > 0
                assert "libvvenc" in point["commands"]["encode"] and f"-qp {point['qp']}" in point["commands"]["encode"]
        sweep = [clip["points"][k]["bpp"] for k in ("vvc-qp37", "vvc-qp52")]
        assert sweep[0] > sweep[1]


def _audio_framing(path: Path) -> int:
    """Independent count: per audio record (a speech run's included), its length field + the
    length it gives + CRC, read from the file's bytes, minus the Opus bytes of its packets;
    plus what the header's audio fields add to the header record."""
    data, total = path.read_bytes(), 0
    opus: dict[int, int] = {}
    for record in AvfrReader(path).records():
        packet = record.packet
        if packet.HasField("audio"):
            opus[record.offset] = opus.get(record.offset, 0) + len(packet.audio.data)
        elif packet.HasField("header"):
            full = len(packet.SerializeToString())
            for name in ("audio_codec", "audio_sample_rate", "audio_channels", "audio_bitrate"):
                packet.header.ClearField(name)
            bare = len(packet.SerializeToString())
            total += (full + len(encode_varint(full))) - (bare + len(encode_varint(bare)))
    for offset, opus_bytes in opus.items():
        length, used = decode_varint(data, offset)
        total += used + length + 4 - opus_bytes
    return total


@pytest.mark.parametrize("mode", ["avfr", "avfr-1key", "avfr-raw"])
def test_avfr_video_bits_match_the_file(smoke: dict, mode: str) -> None:
    for clip in smoke["result"]["clips"]:
        stream = smoke["out"] / "streams" / f"{Path(clip['clip']).stem}.{mode}.avfr"
        info = describe_file(stream)
        b = info.bytes
        audio_framing = _audio_framing(stream)
        assert info.audio_packets > 0  # the smoke clips carry speech: the audio split is exercised
        point = clip["points"][mode]
        assert point["video_bits"] == 8 * (b["keyframes"] + b["motion"] + b["overhead"] - audio_framing)
        assert point["bytes"]["audio_framing"] == audio_framing
        assert point["bytes"]["file_bytes"] == info.file_bytes > PREAMBLE_BYTES
        assert point["video_bits"] // 8 + b["audio"] + audio_framing == info.file_bytes
        if mode != "avfr":  # one keyframe: the repeat-keyframe point pays exactly for it
            assert clip["points"]["repeat-keyframe"]["video_bits"] == 8 * b["keyframes"]
        if mode == "avfr-raw":
            assert b["motion"] == 12 * 120  # raw FP16: 960 bits a frame
        else:
            assert 0 < b["motion"] < 12 * 120 / 3 and point["motion_bits_per_frame"] == 8 * b["motion"] / 12


def test_plots_and_table_exist(smoke: dict) -> None:
    results = smoke["out"] / "results"
    for metric in ("dists", "lpips", "psnr", "fid"):
        png = results / f"rd-smoke-{metric}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (results / "rd-smoke.md").read_text()
    assert ("| codec point | kbps | bpp | PSNR | SSIM | LPIPS | DISTS | FID | ID-sim | LMD | mouth corr | mouth amp | eye corr "
            "| mouth LPIPS | enc fps | dec fps |") in table  # fmt: skip
    assert "avfr with silence in place of the speech, on the 2 clips with speech: mouth corr" in table
    for key in ("avfr", "avfr-1key", "avfr-raw", "repeat-keyframe", "vvc-qp37", "vvc-qp52", "vvc-match"):
        assert f"| {key} |" in table


def test_provenance(smoke: dict) -> None:
    result = smoke["result"]
    assert result["machine"]["cpu"] and result["machine"]["logical_cpus"]
    assert result["packages"]["torch"] and result["git"]["commit"]
    assert result["timing"]["projected_full_dev_s"] > 0
    assert set(result["preset_settings"]) == set(result["config"]["presets"])  # what the curve's presets were


def test_refuses_to_overwrite(smoke: dict, talking_heads: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--smoke", "--data", str(talking_heads / "dev"), "--out", str(smoke["out"] / "results"), "--no-progress"]
    assert main(argv) == 1
    assert "--force" in capsys.readouterr().err


def test_interrupt_exits_130_and_says_how_to_go_on(smoke: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Ctrl-C during a clip: the shell's code for an interrupt, and one line naming --resume."""
    import benchmarks.rd as rd

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(rd, "bench_and_store", interrupted)
    argv = [a if a != str(smoke["out"] / "results") else str(smoke["out"] / "interrupted") for a in smoke["argv"]]
    argv = [*argv, "--work", str(smoke["out"] / "work-interrupted")]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted; 0 of 2 clips" in err and "--resume" in err
    assert not (smoke["out"] / "interrupted" / "rd-smoke.json").exists()


def resumed_run(smoke: dict, name: str) -> dict:
    argv = [a if a != str(smoke["out"] / "results") else str(smoke["out"] / name) for a in smoke["argv"]]
    assert main([*argv, "--resume"]) == 0
    return json.loads((smoke["out"] / name / "rd-smoke.json").read_text())


def test_resume_takes_back_finished_clips(smoke: dict) -> None:
    """A resumed run of the same settings reuses both stored clips and reports exactly what the
    run did: FID and its bootstrap interval (which pairs references with decoded frames) from
    the stored features, BD-rates, timing."""
    resumed = resumed_run(smoke, "resumed")
    assert resumed["timing"]["resumed_clips"] == 2
    assert resumed["resumed_clips_made_at"] == [smoke["result"]["git"]["commit"] + ("+dirty" if smoke["result"]["git"]["dirty"] else "")]
    assert resumed["clips"] == smoke["result"]["clips"]
    assert resumed["aggregate"] == smoke["result"]["aggregate"]
    assert resumed["curves"] == smoke["result"]["curves"]
    assert resumed["timing"]["avfr_s"] == pytest.approx(smoke["result"]["timing"]["avfr_s"])  # the stored clips' costs


def test_resume_runs_what_is_missing(smoke: dict) -> None:
    """One clip's result gone (as if the run stopped while storing it): that clip runs again and
    the table is the uninterrupted run's, all but the measured speeds."""
    first = smoke["result"]["clips"][0]["clip"]
    (smoke["out"] / "work" / f"{first}.json").unlink()
    resumed = resumed_run(smoke, "resumed-one")
    assert resumed["timing"]["resumed_clips"] == 1
    for key, point in smoke["result"]["aggregate"].items():
        for field, value in point.items():
            if "fps" not in field:
                assert resumed["aggregate"][key][field] == pytest.approx(value), f"{key}: {field}"


def test_result_settings_match_what_changes_scores() -> None:
    from benchmarks.rd import RDConfig

    base = RDConfig.smoke().result_settings()
    assert RDConfig.smoke(clips=5, name="other", fid_resamples=7).result_settings() == base
    assert RDConfig.smoke(max_frames=13).result_settings() != base
    assert RDConfig.smoke(presets=("2k",)).result_settings() != base
    from codec.bitstream.container import FORMAT_VERSION

    assert base["container_version"] == FORMAT_VERSION  # clips stored under older framing are run again


def test_threads_flag_sets_torch_and_vvenc() -> None:
    from benchmarks.rd import build_parser, config_from_args
    from benchmarks.vvc import ANCHOR_PRESET
    from codec.errors import InputError

    cfg = config_from_args(build_parser().parse_args(["--threads", "1"]))
    assert cfg.threads == 1 and cfg.vvc.threads == 1
    default = config_from_args(build_parser().parse_args([]))
    assert default.vvc.threads == cfg.__class__().threads
    assert default.vvc.preset == ANCHOR_PRESET != "faster"  # the anchor at its measured best (benchmarks.vvc_sweep)
    with pytest.raises(InputError, match="--threads"):
        config_from_args(build_parser().parse_args(["--threads", "0"]))


def test_threads_in_code_reach_vvenc_too() -> None:
    from benchmarks.rd import RDConfig

    assert RDConfig(threads=1).vvc.threads == 1
    assert RDConfig.smoke(threads=1).vvc.threads == 1
