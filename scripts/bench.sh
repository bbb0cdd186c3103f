#!/usr/bin/env bash
# Benchmarks vlrface against the Python/PyTorch reference path in one run on this machine, with
# the same threads, repeats and input, and prints a Markdown table (python / C++ ratios, peak RSS).
#
#   scripts/bench.sh [--image FACE.jpg] [--threads 1,2] [--repeat 50] [--warmup 5] [--res 16,24,32]
#                    [--checkpoint edgeface_xxs_q.pt] [--out DIR]
#
# --checkpoint is the official EdgeFace checkpoint the Python side loads; without it the script
# looks for edgeface_xxs_q.pt under $VLRFACE_MODEL_SOURCE, then in $BUILD_DIR/model-cache.
# Results: DIR/cpp.json, DIR/python.json, DIR/table.md (DIR defaults to $BUILD_DIR/bench).
# Environment: VLRFACE_BUILD_DIR (default build), VLRFACE_MODELS (as for vlrface).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${VLRFACE_BUILD_DIR:-build}"
PY=/usr/bin/python3  # Debian's python3-torch lives in the system interpreter

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "bench.sh: $*" >&2; exit 2; }

image="" threads="1,2" repeat=50 warmup=5 res="16,24,32" checkpoint="" out=""
while (($#)); do
  case "$1" in
    --image) image="${2:?--image needs a file}"; shift 2 ;;
    --threads) threads="${2:?--threads needs a list}"; shift 2 ;;
    --repeat) repeat="${2:?--repeat needs a number}"; shift 2 ;;
    --warmup) warmup="${2:?--warmup needs a number}"; shift 2 ;;
    --res) res="${2:?--res needs a list}"; shift 2 ;;
    --checkpoint) checkpoint="${2:?--checkpoint needs a file}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
  die "--threads must be a comma-separated list of counts >= 1 (torch has no 'all cores' value)"
[[ -z "$image" || -f "$image" ]] || die "$image: no such image"

vlrface="$BUILD_DIR/bin/vlrface"
[ -x "$vlrface" ] || die "$vlrface not found: build first (cmake --build $BUILD_DIR)"
[ -x "$PY" ] || die "$PY not found: the reference needs Debian's python3-torch"

if [ -z "$checkpoint" ] && [ -n "${VLRFACE_MODEL_SOURCE:-}" ]; then
  checkpoint="$(find "$VLRFACE_MODEL_SOURCE" -name edgeface_xxs_q.pt -print -quit 2>/dev/null)"
fi
if [ -z "$checkpoint" ] && [ -f "$BUILD_DIR/model-cache/edgeface_xxs_q.pt" ]; then
  checkpoint="$BUILD_DIR/model-cache/edgeface_xxs_q.pt"
fi
[ -n "$checkpoint" ] || die "no EdgeFace checkpoint for the Python reference: pass --checkpoint \
edgeface_xxs_q.pt or set VLRFACE_MODEL_SOURCE to the folder set-up took the models from"
[ -f "$checkpoint" ] || die "$checkpoint: no such checkpoint"

out="${out:-$BUILD_DIR/bench}"
mkdir -p "$out"
image_args=()
[ -n "$image" ] && image_args=(--image "$image")

echo "== C++: $vlrface bench (threads $threads, repeat $repeat after $warmup warm-up)" >&2
# 1,000 first: its memory snapshot is the peak with the models and a 1,000-person gallery, the
# same state the Python reference ends in; 10,000 is built after it.
"$vlrface" bench --threads "$threads" --repeat "$repeat" --warmup "$warmup" --res "$res" \
  --gallery-sizes 1000,10000 "${image_args[@]}" --json "$out/cpp.json" >&2

# The Python side aligns with the landmarks the C++ side found, so both warp the same face.
landmarks="$("$PY" -c 'import json, sys
pts = json.load(open(sys.argv[1]))["config"]["landmark_points"]
print(",".join(repr(float(v)) for p in pts for v in p))' "$out/cpp.json")"

echo "== Python reference: tools/bench_reference.py (same settings)" >&2
"$PY" tools/bench_reference.py --checkpoint "$checkpoint" --threads "$threads" \
  --repeat "$repeat" --warmup "$warmup" --res "$res" --gallery-size 1000 \
  --landmarks "$landmarks" "${image_args[@]}" --json "$out/python.json" >&2

"$PY" - "$out/cpp.json" "$out/python.json" <<'EOF' | tee "$out/table.md"
import json, sys

cpp, py = (json.load(open(f)) for f in sys.argv[1:3])
m = cpp["machine"]
c = cpp["config"]
print(f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['kernel']}; OpenCV {m['opencv_version']} "
      f"({m['opencv_parallel_framework']}), {m['compiler']}; PyTorch {py['machine']['torch']} "
      f"(BLAS {py['machine'].get('torch_blas', '?')}), Python {py['machine']['python']}.  ")
print(f"Date: {m['date']}. Frame: {c['frame']}; landmarks: {c['landmarks']}. "
      f"Repeat {c['repeat']} after {c['warmup']} warm-up, one process each. "
      f"Load average {c['load_average_start']} (start) / {c['load_average_end']} (end).\n")


def key(s):
    return (s["stage"], s.get("res"), s.get("people"))


def cell(s):
    return f"{s['median_ms']:.3f} ({s['p10_ms']:.3f}–{s['p90_ms']:.3f})"


print("| threads | stage | input | C++ median (p10–p90) ms | Python median (p10–p90) ms "
      "| Python / C++ |")
print("|---|---|---|---|---|---|")
for run in cpp["runs"]:
    t = run["threads"]
    pyrun = next((r for r in py["runs"] if r["threads"] == t), None)
    if pyrun is None:
        continue
    pys = {key(s): s for s in pyrun["stages"]}
    for s in run["stages"]:
        if not s["available"] or s.get("variant") not in (None, "bicubic"):
            continue
        p = pys.get(key(s))
        if p is None:
            continue
        what = " ".join(x for x in (f"{s['res']} px" if "res" in s else "",
                                    f"{s['people']} people" if "people" in s else "") if x)
        name = {"per_face": "**per-face path**", "embed": "**embed**"}.get(s["stage"], s["stage"])
        print(f"| {t} | {name} | {what or '—'} | {cell(s)} | {cell(p)} "
              f"| {p['median_ms'] / s['median_ms']:.1f}x |")

phases = {x["phase"]: x for x in cpp["memory"]}
with_1000 = phases.get("gallery 1000 built", cpp["memory"][-1])
print()
print("| peak RSS | C++ `vlrface bench` | Python reference |")
print("|---|---|---|")
print(f"| models loaded + 1,000-person gallery | {with_1000['peak_rss_kib'] / 1024:.1f} MiB "
      f"| {py['peak_rss_kib'] / 1024:.1f} MiB |")
print(f"| end of run (C++ also holds the 10,000-person gallery) "
      f"| {cpp['peak_rss_kib'] / 1024:.1f} MiB | {py['peak_rss_kib'] / 1024:.1f} MiB |")
start = phases.get("start")
if start:
    print(f"| C++ at start, before any model (shared libraries) | {start['peak_rss_kib'] / 1024:.1f}"
          f" MiB | — |")
EOF
echo "== results: $out/cpp.json, $out/python.json, $out/table.md" >&2
