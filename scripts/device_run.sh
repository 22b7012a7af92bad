#!/usr/bin/env bash
# A lent GPU machine (one H200, ~15 device minutes, no MediaPipe/PyAV/librosa, no network):
# ~7.5 minutes of training from the working tree's snapshot of the run CONFIG (default
# light-256-speech, the default model's line, whose CPU schedule ended at step 22000: STEPS
# moves the schedule's end, 40000 by default, so its lr stays 5e-5 to step 38000), then the
# CUDA receiver's fps.
#
# Before (here, once; device_pack/ is git-ignored, ~16 MiB beside the ~47 MiB that travel anyway):
#   python -m codec.training.device_pack data/prepared
# Stop the CPU run of CONFIG first, so the snapshot in the tree is its latest (it writes it
# every snapshot_every steps). Then, from the repository root, the device tool's call:
#   run  command: bash scripts/device_run.sh   carry: ["device_pack"]   timeout_s: 600
# Back (files_at): CONFIG.safetensors (the fp16 G + D snapshot at the step reached),
# model.safetensors, log.csv, train.log, sample.png, env.txt, cuda_receiver.{json,md}.
# To continue on the CPU:
#   cp FILES_AT/light-256-speech.safetensors codec/training/snapshot/light-256-speech.safetensors
#   mv runs/light-256-speech/last.safetensors runs/light-256-speech/last-before-gpu.safetensors  # --resume takes last.safetensors first
#   cp FILES_AT/log.csv runs/light-256-speech/log-gpu.csv; avfr train light-256-speech --resume  # Adam's moments restart
# CONFIG, STEPS, BATCH, WORKERS, TRAIN_SECONDS, FPS_BATCHES, FPS_REPEATS and DEVICE override the settings below
# (a CPU dry run: DEVICE=cpu TRAIN_SECONDS=20 BATCH=2 WORKERS=1 FPS_BATCHES=1 FPS_REPEATS=1).
set -uo pipefail
CONFIG=${CONFIG:-light-256-speech} STEPS=${STEPS:-40000}
OUT=${OUT:-/tmp/device-out} RUN=/tmp/$CONFIG-gpu PACK=device_pack
export BATCH=${BATCH:-32} WORKERS=${WORKERS:-12} TRAIN_SECONDS=${TRAIN_SECONDS:-450} DEVICE=${DEVICE:-cuda} RUN PACK CONFIG STEPS
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 AVFR_CACHE=$PWD/$PACK/cache
say() { echo "== device_run $(date +%T) (${SECONDS}s): $*"; }
mkdir -p "$OUT" "$RUN"
[ -f "$PACK/index.json" ] || { say "no $PACK/: build it with python -m codec.training.device_pack data/prepared, and carry it"; exit 2; }

say "1/3 environment"
python3 -c 'import sys, torch, numpy, cv2; print("python", sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__, "opencv", cv2.__version__);
print("cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NONE")' 2>&1 | tee "$OUT/env.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >>"$OUT/env.txt" 2>&1

say "2/3 training $CONFIG: batch $BATCH, $WORKERS loader workers, ${TRAIN_SECONDS}s"
python3 -c 'import os, shutil, yaml
cfg = yaml.safe_load(open("codec/configs/train/" + os.environ["CONFIG"] + ".yaml"))
run = os.environ["RUN"]
shutil.copyfile(cfg["snapshot"], f"{run}/snapshot.safetensors")  # the tree copy stays as it came
cfg.update(steps=int(os.environ["STEPS"]), data=os.environ["PACK"], run_dir=run, snapshot=f"{run}/snapshot.safetensors", batch_size=int(os.environ["BATCH"]), num_workers=int(os.environ["WORKERS"]),
    threads=None, max_seconds=float(os.environ["TRAIN_SECONDS"]), checkpoint_every=500, sample_every=1000, export_every=100000)
yaml.safe_dump(cfg, open(f"{run}/gpu.yaml", "w"))' && python3 -m avfr train "$RUN/gpu.yaml" --resume --device "$DEVICE" 2>&1 | tr '\r' '\n' >"$OUT/train.log"
say "training exited with $? (tail of its log:)"; grep -v "^train: " "$OUT/train.log" | tail -n 5; grep "^train: " "$OUT/train.log" | tail -n 2
cp "$RUN/snapshot.safetensors" "$OUT/$CONFIG.safetensors"; cp "$RUN/model.safetensors" "$RUN/log.csv" "$OUT/"
sample=$(ls "$RUN"/samples/*.png 2>/dev/null | tail -n 1); [ -n "$sample" ] && cp "$sample" "$OUT/sample.png"

say "3/3 receiver fps (networks only, batches ${FPS_BATCHES:=1,8})"
python3 -m benchmarks.cuda_receiver --inputs "$PACK/receiver_inputs.safetensors" --out "$OUT" --device "$DEVICE" \
    --batches "$FPS_BATCHES" --repeats "${FPS_REPEATS:-8}" 2>&1 | tail -n 12
say "done"; ls -la "$OUT"
