#!/usr/bin/env bash
# The web UI of `vlrface serve` in headless Chromium (ui.test.mjs). CTest runs it as browser_ui
# (labels browser, model). Exit 77 with a SKIP line when something it needs is missing:
#   models       scripts/setup.sh (or VLRFACE_MODELS)
#   ORL faces    VLRFACE_DATA=<folder holding orl/>
#   chromium     apt-get install chromium   (Debian's, /usr/bin/chromium; CHROMIUM=... to change)
#   node_modules npm ci --prefix tests/browser
#   ffmpeg       apt-get install ffmpeg
# With VLRFACE_REQUIRE_MODELS=1 missing models or data fail instead; with
# VLRFACE_REQUIRE_BROWSER=1 a missing chromium, node_modules or ffmpeg does too.
# Usage: tests/browser/run.sh path/to/vlrface [build-dir]   (screenshots: <build-dir>/browser/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=${1:?usage: run.sh path/to/vlrface [build-dir]}
build=${2:-$here/../../build}

skip() {  # skip <required-variable> <reason>
  echo "SKIP: $2"
  if [ "${!1:-0}" != 0 ]; then echo "FAIL: $1 is set"; exit 1; fi
  exit 77
}
models=${VLRFACE_MODELS:-${VLRFACE_BUILD_MODELS:-$build/share/vlrface/models}}
if [ ! -f "$models/edgeface_xxs.json" ] || [ ! -f "$models/yunet.json" ]; then
  skip VLRFACE_REQUIRE_MODELS "models not prepared in $models (run scripts/setup.sh)"
fi
if [ -z "${VLRFACE_DATA:-}" ] || [ ! -d "$VLRFACE_DATA/orl" ]; then
  skip VLRFACE_REQUIRE_MODELS "dataset 'orl' not found: set VLRFACE_DATA to the folder holding it"
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || skip VLRFACE_REQUIRE_BROWSER "no $chromium (apt-get install chromium)"
command -v node >/dev/null || skip VLRFACE_REQUIRE_BROWSER "node not installed"
[ -d "$here/node_modules/playwright-core" ] ||
  skip VLRFACE_REQUIRE_BROWSER "tests/browser/node_modules missing (npm ci --prefix tests/browser)"
command -v ffmpeg >/dev/null || skip VLRFACE_REQUIRE_BROWSER "ffmpeg not installed"
if ! "$cli" serve --help >/dev/null 2>&1; then
  [ "${VLRFACE_REQUIRE_MODELS:-0}" = 0 ] || skip VLRFACE_REQUIRE_MODELS "$cli has no serve command"
  skip VLRFACE_REQUIRE_BROWSER "$cli has no serve command"
fi

exec node "$here/ui.test.mjs" --cli "$cli" --models "$models" --data "$VLRFACE_DATA" \
  --out "$build/browser" --chromium "$chromium"
