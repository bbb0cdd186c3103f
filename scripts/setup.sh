#!/usr/bin/env bash
# One command from a fresh Debian 12 / Raspberry Pi OS machine to a working vlrface:
# installs the Debian packages, builds, and prepares the models. Safe to run again: it only
# does what is missing.
#   VLRFACE_MODEL_SOURCE=DIR  take the upstream model files from DIR instead of downloading them
#   VLRFACE_DATA=DIR          datasets folder; with DIR/orl present the EdgeFace conversion also
#                             writes a verification set for the model tests
#   VLRFACE_BUILD_DIR=DIR     build folder (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${VLRFACE_BUILD_DIR:-build}"

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates help2man
  libopencv-dev opencv-data libsqlite3-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libssl-dev libgtest-dev libstb-dev libjpeg-dev libcpp-httplib-dev ffmpeg libavcodec-dev chromium
  libmosquitto-dev mosquitto
  libpq-dev postgresql
  python3 python3-torch python3-onnx python3-opencv python3-numpy
  # Fuzzing and sanitizer builds (scripts/fuzz.sh, scripts/sanitize.sh): clang with libFuzzer.
  clang libclang-rt-14-dev
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
else
  echo "== Debian packages: all present"
fi

echo "== building in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"

echo "== models"
# Debian's python3-torch lives in the system interpreter, whatever python3 is first on PATH.
/usr/bin/python3 tools/prepare_models.py --out "$BUILD_DIR/share/vlrface/models" \
  --cache "$BUILD_DIR/model-cache"
# The browser test drives Debian's chromium with playwright-core (npm registry, pinned by
# tests/browser/package-lock.json); without npm it skips with a reason.
if command -v npm >/dev/null; then
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "== browser test: npm ci"
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
  fi
else
  echo "== browser test: npm not found, the web UI test will skip"
fi
echo "== done: $BUILD_DIR/bin/vlrface --help"
