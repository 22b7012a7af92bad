"""The GPU receiver check runs end to end on the CPU (tiny model, fake dev set), so the one
command a lent GPU machine gets is known to work before it gets it."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.cuda_receiver import main
from codec.training.device_pack import receiver_inputs
from tests.codec.training.fake_prepared import write_prepared
from tests.codec.training.test_device_pack import tiny_model


def test_it_times_each_variant_and_batch_and_checks_the_output(tmp_path: Path) -> None:
    dev = write_prepared(tmp_path / "dev", [("d1", "dee"), ("d2", "eve")], split="eval", frames=10)
    model = tiny_model(tmp_path / "tiny.safetensors")
    inputs = tmp_path / "receiver_inputs.safetensors"
    receiver_inputs(dev, inputs, clips=2, frames=6, model_path=model)
    argv = ["--inputs", str(inputs), "--device", "cpu", "--batches", "1,2", "--repeats", "1", "--model", str(model), "--out", str(tmp_path)]
    assert main(argv) == 0
    r = json.loads((tmp_path / "cuda_receiver.json").read_text())
    assert set(r["variants"]) == {"fp32", "bf16"}  # fp16 autocast is for CUDA only
    fp32 = r["variants"]["fp32"]
    assert [e["batch"] for e in fp32["batches"]] == [1, 2] and all(e["fps"] > 0 and e["frames_timed"] == 3 for e in fp32["batches"])
    assert fp32["max_abs_diff_vs_cpu_fp32"] < 1e-3  # the same networks on the same device: fp16 storage alone
    assert "| fp32 | 2 |" in (tmp_path / "cuda_receiver.md").read_text()
    assert main(argv[:-2] + ["--batches", "1,4", "--out", str(tmp_path)]) == 1  # more calls than keyframes: one line, exit 1
