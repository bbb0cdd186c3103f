#!/usr/bin/env bash
# Re-trains the shipped DSR networks and EdgeFace adapters (16, 24, 32 px) and exports them to
# models/dsr and models/adapters, with the recipe recorded in docs/MODELS.md.
#
#   VLRFACE_DATA=../shared/datasets VLRFACE_MODEL_SOURCE=../shared/models scripts/train_dsr.sh
#
# Resumable: run it again after an interruption and every resolution continues from its last
# checkpoint (build/train/dsrN/last.pt). Uses a GPU when torch sees one (set THREADS for CPU).
# After exporting, update the sha256 values in models/manifests/{dsr*,edgeface_xxs_r*}.json
# (scripts/train_dsr.sh prints them) and run scripts/setup.sh to rebuild the model directory.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VLRFACE_DATA:?set VLRFACE_DATA to the datasets folder (faces-hr-train, celeba-train)}"
PY=/usr/bin/python3
THREADS=${THREADS:-$(nproc)}
# res, DSR steps, adapter steps, DSR learning-rate schedule length (as the shipped models)
SCHEDULE=("16 700 500 900" "24 700 450 700" "32 400 400 400")
for row in "${SCHEDULE[@]}"; do
  read -r res steps_dsr steps_adapter schedule <<<"$row"
  echo "== ${res} px: ${steps_dsr} DSR steps, ${steps_adapter} adapter steps"
  "$PY" tools/train_dsr.py --res "$res" --steps-dsr "$steps_dsr" --steps-adapter "$steps_adapter" \
    --dsr-schedule-steps "$schedule" --channels 32 --layers 4 --val-every 100 --threads "$THREADS"
  "$PY" tools/train_dsr.py --res "$res" --export models --threads "$THREADS"
done
sha256sum models/dsr/*.onnx models/adapters/*.npz
