#!/usr/bin/env bash
# Trains the recovery models and exports them to models/: the low-resolution student of
# EdgeFace-XXS (one adapter for faces of 12..40 px, tools/train_student.py) and the picture DSR
# (one network for 12..40 px, tools/train_dsr.py --sizes), as recorded in docs/MODELS.md.
#
#   VLRFACE_DATA=../shared/datasets VLRFACE_MODEL_SOURCE=../shared/models scripts/train_recovery.sh
#
# Resumable: run it again after an interruption and each model continues from its checkpoint.
# The student trains on the GPU when torch sees one (DEVICE=cpu|cuda to force), the same code on
# the CPU; the picture DSR trains on the CPU (no EdgeFace in its loop: minutes).
#   SMOKE=1          a few steps of everything (checks the flow, trains nothing)
#   MAX_MINUTES=N    stop each training after N minutes, checkpointed (a GPU lease: N=4)
#   WORK, OUT        work folder (default build/train) and export folder (default models)
#   THREADS          CPU threads (default: all cores)
# Then: update the sha256 in models/manifests/{edgeface_xxs_lr,dsr_lr}.json (printed at the
# end), run scripts/setup.sh, and choose defaults and thresholds on validation (docs/MODELS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VLRFACE_DATA:?set VLRFACE_DATA to the datasets folder (faces-hr-train, celeba-train)}"
WORK=${WORK:-build/train}
OUT=${OUT:-models}
PY=/usr/bin/python3
THREADS=${THREADS:-$(nproc)}
DEVICE=${DEVICE:-auto}
STUDENT_STEPS=4500 DSR_STEPS=3000 VAL=500
if [[ -n "${SMOKE:-}" ]]; then STUDENT_STEPS=2 DSR_STEPS=2 VAL=1; fi
LIMIT=()
[[ -n "${MAX_MINUTES:-}" ]] && LIMIT=(--max-minutes "$MAX_MINUTES")
mkdir -p "$WORK/cache"

echo "== student: EdgeFace-XXS adapter for 12..40 px faces (${STUDENT_STEPS} steps of 64)"
"$PY" tools/train_student.py --work "$WORK/student" --cache "$WORK/cache" --device "$DEVICE" \
  --steps "$STUDENT_STEPS" --val-every "$VAL" --rank 16 --batch 64 --lr 5e-4 --min-size 12 \
  --max-size 40 --degrade-p 0.5 --threads "$THREADS" "${LIMIT[@]}"
"$PY" tools/train_student.py --work "$WORK/student" --export "$OUT" --name edgeface_xxs_lr

echo "== DSR for pictures: 12..40 px, pixel loss (${DSR_STEPS} steps of 32)"
mkdir -p "$WORK/dsr"
# The DSR trainer reads the same faces and teacher embeddings from <work>/cache.
key=$(ls -d "$WORK"/cache/cache-* | head -1)
ln -sfn "$(cd "$key" && pwd)" "$WORK/dsr/cache"
"$PY" tools/train_dsr.py --res 24 --sizes 12:40 --work "$WORK/dsr" --steps-dsr "$DSR_STEPS" \
  --steps-adapter 0 --w-pix 1 --w-id 0 --select psnr --channels 48 --layers 6 --batch 32 \
  --lr 1e-3 --val-every "$VAL" --threads "$THREADS"
"$PY" tools/train_dsr.py --res 24 --work "$WORK/dsr" --export "$OUT" --name dsr_lr

sha256sum "$OUT"/adapters/edgeface_xxs_lr.adapter.npz "$OUT"/dsr/dsr_lr.onnx
