#!/usr/bin/env bash
# How often the product names a stranger, by gallery size: draws galleries of N people from the
# validation set (build/validation, tools/make_validation_set.py), runs `vlrface eval` on each
# (full-size faces and simulated 16 px faces through the adapter) and prints the mean open-set
# FPIR and TPIR at the product's own thresholds over the draws (docs/EVALUATION.md, "Open-set
# identification at the product's thresholds").
#
#   scripts/open_set_by_gallery_size.sh 5 20     # 20 galleries of 5 people
#
# Validation data only; the draws are seeded (the same N and draw give the same people).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?usage: $0 PEOPLE DRAWS}
K=${2:?usage: $0 PEOPLE DRAWS}
BIN=${BIN:-build/bin/vlrface}
VAL=${VAL:-build/validation}
[ -f "$VAL/gallery.txt" ] || { echo "$0: no $VAL/gallery.txt: run tools/make_validation_set.py" >&2; exit 1; }
OUT=build/open-set/gallery-$N
rm -rf "$OUT"
mkdir -p "$OUT"
for k in $(seq 1 "$K"); do
  d=$OUT/draw-$k
  mkdir -p "$d"
  ln -s "$(realpath "$VAL/images")" "$d/images"
  cp "$VAL/landmarks.csv" "$d/"
  cut -d' ' -f2 "$VAL/gallery.txt" | sort -u | /usr/bin/python3 -c "
import random, sys
people = sys.stdin.read().split()
print('\n'.join(random.Random($k * 1000 + $N).sample(people, $N)))" > "$d/people.txt"
  awk 'NR == FNR { keep[$1]; next } $2 in keep' "$d/people.txt" "$VAL/gallery.txt" > "$d/gallery.txt"
  awk 'NR == FNR { keep[$1]; next } $2 in keep' "$d/people.txt" "$VAL/probe.txt" > "$d/probe.txt"
  "$BIN" eval --dataset "$d" --res 112,16 --upscaler bicubic+adapter --jobs "${JOBS:-2}" -q \
    --json "$d/report.json" > "$d/report.txt"
done
/usr/bin/python3 - "$OUT" "$K" "$N" <<'PY'
import json, statistics as st, sys
out, draws, people = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = {}
for k in range(1, draws + 1):
    for r in json.load(open(f"{out}/draw-{k}/report.json"))["results"]:
        p = r["identification"]["at_product_thresholds"]
        rows.setdefault(r["resolution"], []).append((p["far"], p["tar"], r["identification"]["probes"]))
for res, v in rows.items():
    label = "full size" if res in (0, 112, None) else f"{res} px simulated"
    print(f"{people} people, {label}: FPIR {st.mean(x[0] for x in v):.4f} (draws {min(x[0] for x in v):.4f}"
          f"-{max(x[0] for x in v):.4f}), TPIR {st.mean(x[1] for x in v):.4f}; "
          f"{st.mean(x[2] for x in v):.0f} probes a draw, {len(v)} draws")
PY
