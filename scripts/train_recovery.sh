#!/usr/bin/env bash
# Trains the recovery models that ship in models/: the EdgeFace-XXS adapters for small faces
# (edgeface_xxs_r16 for 12..20 px, edgeface_xxs_r24 for 20..29 px; tools/train_student.py),
# trained on faces degraded as a camera degrades them, on the training data after
# ../shared/datasets/TRAINING-EXCLUSIONS.txt, selected on held-out celeba-train identities.
# The settings below are those of the run of 2026-11-29 (docs/MODELS.md, "Tried and dropped"):
# its adapters did not beat the committed ones (scripts/train_dsr.sh) on validation, so they were
# not committed. Export them only when validation prefers them (then the manifests change too).
#
#   VLRFACE_DATA=../shared/datasets VLRFACE_MODEL_SOURCE=../shared/models scripts/train_recovery.sh
#
# Resumable: run it again after an interruption and each model continues from its checkpoint.
# The adapters train on the GPU when torch sees one (DEVICE=cpu|cuda to force), the same code on
# the CPU. Each export rewrites the adapter, its provenance and its manifest template
# (models/manifests/edgeface_xxs_rN.json: sha256, id, provenance).
#   SMOKE=1          a few steps of everything (checks the flow, trains nothing; exports to WORK)
#   MAX_MINUTES=N    stop each training after N minutes, checkpointed (a GPU lease: N=4)
#   WORK, OUT        work folder (default build/train) and export folder (default models)
#   CACHE            face cache folder (default WORK/cache; keyed by the data it was made from)
#   THREADS          CPU threads per model (default 1: the two models train side by side)
#   DSR_PICTURE=1    also the picture DSR (one network for 12..40 px, pixel loss; not shipped)
# Then: scripts/setup.sh (folds the adapters into ONNX) and scripts/choose_on_validation.sh
# (recovery per size and thresholds on validation), then scripts/setup.sh again.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VLRFACE_DATA:?set VLRFACE_DATA to the datasets folder (faces-hr-train, celeba-train)}"
WORK=${WORK:-build/train}
CACHE=${CACHE:-$WORK/cache}
OUT=${OUT:-models}
PY=/usr/bin/python3
THREADS=${THREADS:-1}
DEVICE=${DEVICE:-auto}
STEPS=1500 VAL=250 DSR_STEPS=3000
MANIFESTS=models/manifests
if [[ -n "${SMOKE:-}" ]]; then
  STEPS=2 VAL=1 DSR_STEPS=2 OUT="$WORK/smoke-export" MANIFESTS="$WORK/smoke-export/manifests"
  mkdir -p "$MANIFESTS"
  cp models/manifests/edgeface_xxs_r16.json models/manifests/edgeface_xxs_r24.json "$MANIFESTS/"
fi
LIMIT=()
[[ -n "${MAX_MINUTES:-}" ]] && LIMIT=(--max-minutes "$MAX_MINUTES")
mkdir -p "$CACHE"

echo "== face cache (training and validation faces with the teacher's embeddings)"
"$PY" tools/train_student.py --work "$CACHE" --cache "$CACHE" --device "$DEVICE" \
  --threads "$(nproc)" --prepare-cache

# name, sizes drawn from, sizes that select the checkpoint, weight of the batch-similarity term
MODELS=("r16 12 20 12,16,20 10" "r24 20 29 24 0")
pids=()
for spec in "${MODELS[@]}"; do
  read -r name lo hi sel wpair <<<"$spec"
  echo "== edgeface_xxs_$name: rank-8 adapter for ${lo}..${hi} px faces (${STEPS} steps of 64)"
  "$PY" tools/train_student.py --work "$WORK/$name" --cache "$CACHE" --device "$DEVICE" \
    --steps "$STEPS" --val-every "$VAL" --rank 8 --batch 64 --lr 5e-4 --min-size "$lo" \
    --max-size "$hi" --select-sizes "$sel" --w-pair "$wpair" --degrade-p 0.5 \
    --threads "$THREADS" "${LIMIT[@]}" > "$WORK/$name.out" 2>&1 &
  pids+=($!)
done
fail=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "training ${MODELS[$i]%% *} failed: see $WORK/${MODELS[$i]%% *}.out" >&2; fail=1; }
done
((fail == 0)) || exit 1
for spec in "${MODELS[@]}"; do
  read -r name _ <<<"$spec"
  tail -n 1 "$WORK/$name.out"
  "$PY" tools/train_student.py --work "$WORK/$name" --export "$OUT" --name "edgeface_xxs_$name" \
    --manifest "$MANIFESTS/edgeface_xxs_$name.json"
done

if [[ -n "${DSR_PICTURE:-}" ]]; then
  echo "== DSR for pictures: 12..40 px, pixel loss (${DSR_STEPS} steps of 32)"
  mkdir -p "$WORK/dsr"
  # The DSR trainer keys its face cache as train_student.py does, under <work>/cache: the
  # same folder serves both.
  ln -sfn "$(cd "$CACHE" && pwd)" "$WORK/dsr/cache"
  "$PY" tools/train_dsr.py --res 24 --sizes 12:40 --work "$WORK/dsr" --steps-dsr "$DSR_STEPS" \
    --steps-adapter 0 --w-pix 1 --w-id 0 --select psnr --channels 48 --layers 6 --batch 32 \
    --lr 1e-3 --val-every "$VAL" --threads "$THREADS"
  "$PY" tools/train_dsr.py --res 24 --work "$WORK/dsr" --export "$OUT" --name dsr_lr
fi
