#!/usr/bin/env bash
# Chooses the embedder's recovery per face size (on native faces: the whole image shrunk, found
# by the detector, aligned at its own size, as a camera gives them), the cut-off above which faces
# go to the base model, and every decision threshold (native and simulated), on validation data only (held-out celeba-train identities
# and ORL; never LFW), and writes them into models/manifests/edgeface_xxs.json.
#
#   VLRFACE_DATA=../shared/datasets scripts/choose_on_validation.sh      # after scripts/setup.sh
#
# Native faces are measured up to 48 px, so that every size below a cut-off the simulated rows
# put at 64 px (2026-11-29) is chosen on real faces, not on faces shrunk after alignment.
# Native faces are judged twice, on raw frames and on frames coded as an IP camera's H.264 stream
# (CRF 28), and a recovery path is taken where it helps on both together (tools/calibrate.py).
# Writes build/validation (the set), build/validation.json and build/validation-h264.json (every
# figure) and prints the choice.
# Run scripts/setup.sh afterwards so that the prepared model folder carries the new manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VLRFACE_DATA:?set VLRFACE_DATA to the datasets folder (celeba-train, orl)}"
BIN=${BIN:-build/bin/vlrface}
JOBS=${JOBS:-$(nproc)}
/usr/bin/python3 tools/make_validation_set.py --data "$VLRFACE_DATA" --out build/validation
"$BIN" eval --dataset build/validation --res 112,12,16,20,24,32,40,48,64 \
  --upscaler bicubic,dsr,bicubic+adapter,dsr+adapter \
  --native 12,16,20,24,32,40,48 --native-paths base,bicubic,dsr,bicubic+adapter,dsr+adapter \
  --canvas 320x240 --detect-upsample 2 --calibrate 1e-3 --jobs "$JOBS" --quiet \
  --json build/validation.json | tee build/validation.txt
"$BIN" eval --dataset build/validation --res 112 \
  --native 12,16,20,24,32,40,48 --native-paths base,bicubic,dsr,bicubic+adapter,dsr+adapter \
  --canvas 320x240 --detect-upsample 2 --h264 28 --calibrate 1e-3 --jobs "$JOBS" --quiet \
  --json build/validation-h264.json | tee build/validation-h264.txt
/usr/bin/python3 tools/calibrate.py build/validation.json models/manifests/edgeface_xxs.json \
  --h264 build/validation-h264.json
