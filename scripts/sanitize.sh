#!/usr/bin/env bash
# Sanitizer builds and runs (issue #12).
#   scripts/sanitize.sh asan   ASan + UBSan (clang, -fno-omit-frame-pointer, any finding fatal):
#                              the core libraries, the CLI (run by the CLI tests) and every unit
#                              test; the model tests too (the serve API among them) when
#                              $VLRFACE_MODELS names the prepared models.
#   scripts/sanitize.sh tsan   TSan: what has threads -- the live engine and its sources, the
#                              gallery's followers, the events (MQTT, webhooks); with
#                              $VLRFACE_MODELS also the live engine and serve model tests.
# Extra arguments go to ctest (e.g. -R Gallery). Builds into build-fuzz (asan: the fuzz targets'
# build, one compile for both) or build-tsan; VLRFACE_SANITIZE_BUILD_DIR=DIR overrides.
# Suppressions: scripts/sanitize/*.supp, each entry with the reason it is not ours to fix.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
shift || true
case "$mode" in
  asan) BUILD="${VLRFACE_SANITIZE_BUILD_DIR:-build-fuzz}"
        flags=(-DVLRFACE_FUZZ=ON) ;;
  tsan) BUILD="${VLRFACE_SANITIZE_BUILD_DIR:-build-tsan}"
        flags=(-DVLRFACE_SANITIZE=thread) ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [ctest arguments]" >&2; exit 2 ;;
esac
command -v clang++ >/dev/null || { echo "sanitize.sh: clang++ not found (scripts/setup.sh installs it)" >&2; exit 1; }
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    "${flags[@]}" "${launcher[@]}" >/dev/null
fi
targets=(vlrface vlrface_unit_tests vlrface_serve_tests vlrface_events_tests vlrface_mqtt_probe)
[ -n "${VLRFACE_MODELS:-}" ] && targets+=(vlrface_model_tests)
echo "== $mode: building ${targets[*]} in $BUILD"
cmake --build "$BUILD" --target "${targets[@]}" -j"$(nproc)"

supp="$PWD/scripts/sanitize"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:strict_init_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"
if [ "$mode" = asan ]; then
  select=(-L unit)
  [ -n "${VLRFACE_MODELS:-}" ] && select=(-L 'unit|model' -E 'browser_ui')
else
  # Tests of code with threads.
  select=(-R 'Live|Source|Capture|FaceCollector|Follow|Refresh|Concurrent|Webhook|Mqtt|Event|Serve')
  [ -n "${VLRFACE_MODELS:-}" ] || select+=(-L unit)
fi
echo "== $mode: ctest ${select[*]} $*"
ctest --test-dir "$BUILD" --output-on-failure --timeout 600 "${select[@]}" "$@"
