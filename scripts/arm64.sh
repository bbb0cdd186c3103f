#!/usr/bin/env bash
# arm64 (Raspberry Pi 5) build and tests on an x86-64 Debian 12: cross-compiles vlrface, runs its
# tests under qemu-aarch64-static, checks that arm64 embeddings agree with x86-64 ones, and builds
# vlrface_<version>_arm64.deb.
#
#   scripts/arm64.sh            unit tests, the model tests that fit the budget, every embedding
#   scripts/arm64.sh --quick    CI form: unit tests and the embedding check on a subset
#
# Why a sysroot and not `apt-get install libopencv-dev:arm64`: Debian's libopencv-dev (and
# libopencv-*-dev) are not Multi-Arch: same, so the :arm64 ones replace the amd64 ones and apt
# removes python3-opencv and python3-torch with them, which set-up needs. The :arm64 -dev
# packages are therefore unpacked (never configured, nothing runs) into an arm64 root with
# mmdebstrap --variant=extract, and the cross compiler (crossbuild-essential-arm64) builds against
# it. The same root is the emulator's library prefix (qemu-aarch64-static -L), so the tests run
# with Debian's arm64 OpenCV, not the host's.
#
# Environment:
#   VLRFACE_BUILD_DIR    the native (x86-64) build (default: build); its amd64 package's
#                        shared-library Depends are reused for arm64 (checked, see below)
#   VLRFACE_MODELS       prepared models (default: the native build's share/vlrface/models)
#   VLRFACE_ARM64_DIR    where the sysroot and the arm64 build go (default: build-arm64)
#   VLRFACE_DATA         datasets folder (orl): model tests and the pipeline part of the check
#   VLRFACE_SYSROOT_EXTRA  more arm64 -dev packages for the sysroot (space-separated)
#   VLRFACE_MIRROR       Debian mirror for the sysroot (default: http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
case "${1:-}" in
  --quick) QUICK=1 ;;
  "") ;;
  *) echo "usage: scripts/arm64.sh [--quick]" >&2; exit 2 ;;
esac
NATIVE="${VLRFACE_BUILD_DIR:-build}"
ARM="${VLRFACE_ARM64_DIR:-build-arm64}"
SYSROOT="$PWD/$ARM/sysroot"
BUILD="$ARM/build"
MIRROR="${VLRFACE_MIRROR:-http://deb.debian.org/debian}"
MODELS="$(realpath -m "${VLRFACE_MODELS:-$NATIVE/share/vlrface/models}")"
JOBS="${VLRFACE_JOBS:-$(nproc)}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# The same -dev packages as scripts/setup.sh installs for amd64 (read from its list, so the two
# cannot drift apart), the C/C++ runtime's, and VLRFACE_SYSROOT_EXTRA (space-separated) for a
# library being added.
mapfile -t SETUP_DEV < <(sed -n '/^PACKAGES=(/,/^)/p' scripts/setup.sh | tr ' ' '\n' \
  | grep -E '^[a-z0-9.+-]+-dev$' | grep -v -x 'python3-dev')
((${#SETUP_DEV[@]} >= 5)) || { echo "arm64.sh: no -dev packages read from scripts/setup.sh" >&2; exit 1; }
read -r -a SYSROOT_EXTRA <<<"${VLRFACE_SYSROOT_EXTRA:-}"
mapfile -t SYSROOT_PACKAGES < <(printf '%s\n' libc6-dev libstdc++-12-dev "${SETUP_DEV[@]}" \
  "${SYSROOT_EXTRA[@]}" | sed '/^$/d' | sort -u)
HOST_PACKAGES=(crossbuild-essential-arm64 qemu-user-static mmdebstrap dpkg-dev file)

declare -a TIMINGS=()
step_start() { STEP="$1"; STEP_T0=$(date +%s); echo "== arm64: $STEP"; }
step_end() {
  local s=$(( $(date +%s) - STEP_T0 ))
  TIMINGS+=("$(printf '%-44s %5d s' "$STEP" "$s")")
}
report() {
  echo "== arm64: timings"
  printf '  %s\n' "${TIMINGS[@]}"
}
trap report EXIT

step_start "host tools (apt-get)"
missing=()
for p in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
step_end

step_start "arm64 sysroot (mmdebstrap)"
# Rebuilt only when the package list changes.
stamp="$SYSROOT/.vlrface-packages"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${SYSROOT_PACKAGES[*]}" ]; then
  $SUDO rm -rf "$SYSROOT"
  mkdir -p "$ARM"
  include=$(IFS=,; echo "${SYSROOT_PACKAGES[*]}")
  $SUDO mmdebstrap --quiet --variant=extract --arch=arm64 --include="$include" bookworm "$SYSROOT" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
    "deb ${MIRROR%/debian}/debian-security bookworm-security main"
  # Unpacked, not configured: what maintainer scripts would do for the linker, done by hand.
  # 1. Absolute symlinks (libz.so -> /lib/...) would point into the host: make them relative.
  $SUDO find "$SYSROOT" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
    target="$(readlink "$link")"
    rel="$(realpath -m --relative-to="$(dirname "$link")" "$SYSROOT$target")"
    $SUDO ln -sfn "$rel" "$link"
  done
  # 2. update-alternatives never ran: BLAS and LAPACK (OpenCV's) get their default links.
  libdir="$SYSROOT/usr/lib/aarch64-linux-gnu"
  for lib in blas/libblas.so.3 lapack/liblapack.so.3; do
    [ -e "$libdir/$lib" ] && $SUDO ln -sfn "$lib" "$libdir/$(basename "$lib")"
  done
  echo "${SYSROOT_PACKAGES[*]}" | $SUDO tee "$stamp" >/dev/null
fi
step_end

step_start "cross-build (aarch64-linux-gnu-g++)"
launcher=()  # a second build of the same sources (CI, a branch) then costs little
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" -DVLRFACE_SYSROOT="$SYSROOT" \
  -DVLRFACE_PACKAGE_MODELS="$MODELS" -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON "${launcher[@]}" \
  >/dev/null
# Only what runs here (cpack, with SKIP_INSTALL_ALL_DEPENDENCY, builds nothing more): --quick
# leaves out the model tests' binary, the longest to compile.
targets=(vlrface vlrface_packaging_files vlrface_unit_tests vlrface_embed_dump)
((QUICK)) || targets+=(vlrface_model_tests)
cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}"
file "$BUILD/bin/vlrface" | grep -q 'ARM aarch64' || { echo "not an arm64 binary" >&2; exit 1; }
step_end

QEMU=(qemu-aarch64-static -L "$SYSROOT")
step_start "unit tests under qemu"
"${QEMU[@]}" "$BUILD/bin/vlrface" --help >/dev/null
ctest --test-dir "$BUILD" -L unit --output-on-failure -j"$JOBS" --timeout 600
step_end

if [ -f "$MODELS/edgeface_xxs.json" ]; then
  step_start "embeddings: x86-64 vs arm64"
  limit=0
  ((QUICK)) && limit=8
  orl=()
  [ -n "${VLRFACE_DATA:-}" ] && [ -d "$VLRFACE_DATA/orl" ] && orl=(--orl "$VLRFACE_DATA/orl")
  cmake --build "$NATIVE" --target vlrface_embed_dump -j"$JOBS" >/dev/null
  "$NATIVE/bin/vlrface_embed_dump" dump --models "$MODELS" "${orl[@]}" --limit "$limit" \
    --out "$BUILD/embeddings-x86_64.json"
  "${QEMU[@]}" "$BUILD/bin/vlrface_embed_dump" dump --models "$MODELS" "${orl[@]}" \
    --limit "$limit" --out "$BUILD/embeddings-aarch64.json"
  "$NATIVE/bin/vlrface_embed_dump" compare "$BUILD/embeddings-x86_64.json" \
    "$BUILD/embeddings-aarch64.json" --min-cosine 0.9999
  step_end

  if ((!QUICK)); then
    step_start "model tests under qemu"
    # The model tests that fit the budget: the embedders against PyTorch, YuNet on ORL, DSR,
    # enrol and identify through the arm64 CLI. The LFW runs and the server's long tests stay
    # with the native build.
    VLRFACE_MODELS="$MODELS" ctest --test-dir "$BUILD" -L model --output-on-failure \
      -j"$JOBS" --timeout 900 \
      -R 'RealModels|RealDetector|Dsr|CliOrl'
    step_end
  fi
else
  echo "== arm64: no prepared models in $MODELS (run scripts/setup.sh): embeddings not checked" >&2
  exit 1
fi

step_start "arm64 package (cpack)"
# dpkg-shlibdeps cannot read the sysroot (its packages are unpacked, not registered with dpkg),
# so the arm64 package takes the amd64 package's shared-library dependencies. That is exact only
# when both binaries need the same libraries: compare their NEEDED entries first. Debian builds
# both architectures from one source at one version, so the versions in Depends hold for both.
amd64_deb=$(ls "$NATIVE"/vlrface_*_amd64.deb 2>/dev/null | head -n1 || true)
if [ -z "$amd64_deb" ]; then
  (cd "$NATIVE" && cpack -G DEB >/dev/null)
  amd64_deb=$(ls "$NATIVE"/vlrface_*_amd64.deb | head -n1)
fi
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort; }
if ! diff <(needed "$NATIVE/bin/vlrface") <(needed "$BUILD/bin/vlrface"); then
  echo "== arm64: the amd64 and arm64 binaries need different libraries (above):" \
       "the amd64 Depends do not fit" >&2
  exit 1
fi
shlib_depends=$(dpkg-deb -f "$amd64_deb" Depends | tr ',' '\n' | sed 's/^ *//' \
  | grep -v -E '^(adduser|ffmpeg)( |$)' | paste -sd, | sed 's/,/, /g')
cmake "$BUILD" -DVLRFACE_DEB_SHLIB_DEPENDS="$shlib_depends" >/dev/null
rm -f "$BUILD"/vlrface_*_arm64.deb
(cd "$BUILD" && cpack -G DEB >/dev/null)
deb=$(ls "$BUILD"/vlrface_*_arm64.deb)
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || { echo "$deb: not arm64" >&2; exit 1; }
# The listing first: grep -q stops reading at its match and, under pipefail, dpkg-deb's broken
# pipe would fail the check.
listing=$(dpkg-deb -c "$deb")
grep -q 'usr/share/vlrface/models/edgeface_xxs.onnx' <<<"$listing" \
  || { echo "$deb: no models inside" >&2; exit 1; }
echo "$deb"
dpkg-deb -f "$deb" Depends
step_end
