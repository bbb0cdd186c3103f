#!/usr/bin/env bash
# scripts/bench_serve.sh — what `vlrface serve` costs: processed frames per second and memory
# (peak and current RSS) while it serves a 640x480 30 fps video with one face against a gallery
# of 1,000 people, with and without clients. Issue #4's target: peak RSS <= 64 MB, >= 25 fps on
# 2 cores. Builds nothing; run it on an otherwise idle machine for figures worth writing down.
#
# Usage: scripts/bench_serve.sh [options]
#   -b BIN      the vlrface binary           (default: build/bin/vlrface, else build/vlrface)
#   -m DIR      prepared models              (default: $VLRFACE_MODELS, else build/share/vlrface/models)
#   -d DIR      datasets holding orl/ and lfw/ (default: $VLRFACE_DATA, else ../shared/datasets)
#   -w DIR      work folder: video, gallery, logs (default: build/bench-serve); the gallery is
#               made once (enrolled through POST /api/people, ~1-3 min) and reused afterwards
#   -g N        gallery size                 (default: 1000)
#   -n SECONDS  sampling time per run        (default: 30)
#   -W SECONDS  warm-up before sampling      (default: 10)
#   -r RUNS     runs per scenario            (default: 3)
#   -t N        inference threads, --threads (default: 2, as serve's own default)
#   -s LIST     scenarios, space-separated   (default: "a b c d e f g")
#   -h          this help
# Scenarios (each run starts a fresh server, so that peak RSS belongs to that scenario alone):
#   a  no client            b  1 viewer of /api/stream      c  3 viewers of /api/stream
#   d  one POST /api/identify of a 250x250 LFW photo after warm-up
#   e  one POST /api/identify of a 3000x3000 JPEG after warm-up
#   f  one enrolment after warm-up: POST /api/people with the 250x250 photo, on a copy of the
#      gallery (the live view then goes on against 1,001 people)
#   g  one open page, emulated: the stream viewer of b plus the page's polls with a face selected
#      (every 0.3 s /api/snapshot and that face's two pictures, every 1 s /api/metrics)
# A viewer is `curl $U/api/stream?fps=15` (what the page asks for), reading and discarding.
#
# Method: the server is started as
#   vlrface --models M --gallery G --threads T serve --camera camera.avi --loop --port 0 --res 16   (BENCH_RES=auto: native mode)
# and, after the warm-up, sampled once a second for -n seconds: processed fps is the change of
# /api/metrics' frame_number over the window divided by its length; RSS and peak RSS are VmRSS
# and VmHWM from /proc/<pid>/status (peak over the whole process life, start-up included); CPU is
# utime+stime of the server from /proc/<pid>/stat (100 % = one core; the ffmpeg child that
# decodes the video is not included). The table gives median and range (min..max) over the runs,
# and per client the difference of the medians against scenario a.
#
# Needs: curl, ffmpeg, awk. Environment: BENCH_SERVE_ARGS adds options after `serve`, and
# BENCH_SERVE_PRELOAD sets LD_PRELOAD for the server (e.g. to try another allocator).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=""
models=${VLRFACE_MODELS:-}
data=${VLRFACE_DATA:-}
work=""
people=1000
seconds=30
warmup=10
runs=3
threads=2
scenarios="a b c d e f g"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while getopts "b:m:d:w:g:n:W:r:t:s:h" opt; do
  case $opt in
    b) bin=$OPTARG ;;
    m) models=$OPTARG ;;
    d) data=$OPTARG ;;
    w) work=$OPTARG ;;
    g) people=$OPTARG ;;
    n) seconds=$OPTARG ;;
    W) warmup=$OPTARG ;;
    r) runs=$OPTARG ;;
    t) threads=$OPTARG ;;
    s) scenarios=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

die() { echo "bench_serve: $*" >&2; exit 1; }
log() { echo "bench_serve: $*" >&2; }

if [ -z "$bin" ]; then
  bin=$here/build/bin/vlrface
  [ -x "$bin" ] || bin=$here/build/vlrface
fi
[ -x "$bin" ] || die "no vlrface binary at $bin (build first, or pass -b)"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
models=${models:-$here/build/share/vlrface/models}
data=${data:-$here/../shared/datasets}
work=${work:-$here/build/bench-serve}
[ -f "$models/edgeface_xxs.json" ] && [ -f "$models/yunet.json" ] ||
  die "models not prepared in $models (scripts/setup.sh, or -m / VLRFACE_MODELS)"
[ -d "$data/orl/images" ] || die "no ORL faces in $data/orl/images (-d / VLRFACE_DATA)"
[ -d "$data/lfw/images" ] || die "no LFW faces in $data/lfw/images (-d / VLRFACE_DATA)"
for tool in curl ffmpeg awk; do command -v $tool >/dev/null || die "$tool not installed"; done
"$bin" serve --help >/dev/null 2>&1 || die "$bin has no serve command"
mkdir -p "$work"
work=$(cd "$work" && pwd)
clk=$(getconf CLK_TCK)

# --- inputs -------------------------------------------------------------------------------------

# The camera: one ORL person (s01, images 4..10) at 320x320 in a grey 640x480 frame, each image
# for half a second, 30 fps MJPEG; the same picture as the serve API test's video.
video=$work/camera.avi
if [ ! -s "$video" ]; then
  frames=$(mktemp -d "$work/frames.XXXXXX")
  for i in 4 5 6 7 8 9 10; do cp "$data/orl/images/s01/$i.jpg" "$frames/f$((i - 4)).jpg"; done
  ffmpeg -v error -y -framerate 2 -i "$frames/f%d.jpg" \
    -vf scale=320:320,pad=640:480:160:80:color=0x5a5a5a,fps=30,format=yuvj420p \
    -c:v mjpeg -q:v 3 "$video.tmp.avi"
  mv "$video.tmp.avi" "$video"
  rm -rf "$frames"
fi
# Uploads: an ordinary photo (d) and a 3000x3000 one (e).
probe=$data/lfw/images/Aaron_Eckhart/1.jpg
[ -f "$probe" ] || probe=$(find "$data/lfw/images" -name '1.jpg' | sort | head -n 1)
big=$work/big3000.jpg
[ -s "$big" ] || ffmpeg -v error -y -i "$probe" -vf scale=3000:3000:flags=bicubic -q:v 2 "$big"

# --- the server ---------------------------------------------------------------------------------

pid=""
viewers=()
cleanup() {
  local v
  for v in "${viewers[@]}"; do kill "$v" 2>/dev/null || true; done
  viewers=()
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server GALLERY LOG: sets pid and U (the base URL).
start_server() {
  local out=$work/serve.out
  : >"$out"
  # shellcheck disable=SC2086
  LD_PRELOAD=${BENCH_SERVE_PRELOAD:-} "$bin" --models "$models" --gallery "$1" \
    --threads "$threads" serve --camera "$video" --loop --port 0 --res "${BENCH_RES:-16}" ${BENCH_SERVE_ARGS:-} \
    >"$out" 2>"$2" &
  pid=$!
  local i line
  for i in $(seq 1 600); do
    line=$(head -n 1 "$out")
    case $line in
      "vlrface serve: listening on http://"*) break ;;
    esac
    kill -0 "$pid" 2>/dev/null || die "the server ended at start-up: $(tail -n 5 "$2")"
    sleep 0.1
  done
  U=${line#vlrface serve: listening on }
  U=${U%/}
  [ -n "$U" ] && [ "$U" != "$line" ] || die "the server did not start within 60 s"
}

metric() {  # metric NAME: a number from /api/metrics
  curl -s --max-time 5 "$U/api/metrics" | grep -o "\"$1\":[0-9.]*" | head -n 1 | cut -d: -f2
}

# Waits for the first processed frame (at most 60 s).
wait_frames() {
  local i n
  for i in $(seq 1 300); do
    n=$(metric frame_number || true)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then return 0; fi
    sleep 0.2
  done
  die "no frame processed within 60 s (see $work/serve.log)"
}

status_kb() {  # status_kb FIELD: VmRSS or VmHWM of the server, in kB
  awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"
}

cpu_ticks() {  # utime + stime of the server (the comm field may hold spaces: skip past ")")
  sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'
}

page_polls() {  # what app.js asks for besides the stream, until killed
  local i=0 snap urls
  while :; do
    snap=$(curl -s --max-time 5 "$U/api/snapshot") || true
    urls=$(printf '%s' "$snap" | grep -o '"/api/faces/[^"]*"' | head -n 2 | tr -d '"' |
      sed "s|^|$U|")
    # shellcheck disable=SC2086
    [ -n "$urls" ] && curl -s --max-time 5 -o /dev/null -o /dev/null $urls
    if [ $((i % 3)) -eq 0 ]; then curl -s --max-time 5 -o /dev/null "$U/api/metrics"; fi
    i=$((i + 1))
    sleep 0.3
  done
}

enrol() {  # enrol NAME FILE: one POST /api/people; fails the run unless 201
  local code
  code=$(curl -s -o "$work/enrol.json" -w '%{http_code}' --max-time 120 \
    -F "name=$1" -F "images=@$2" "$U/api/people")
  [ "$code" = 201 ] || die "POST /api/people $2 answered $code: $(cat "$work/enrol.json")"
}

upload() {  # upload FILE: one POST /api/identify; fails the run unless 200
  local code
  code=$(curl -s -o "$work/identify.json" -w '%{http_code}' --max-time 120 \
    -F "images=@$1" "$U/api/identify")
  [ "$code" = 200 ] || die "POST /api/identify $1 answered $code: $(cat "$work/identify.json")"
}

# --- the gallery --------------------------------------------------------------------------------

gallery=$work/g$people.vlrg
count_people() {
  curl -s --max-time 30 "$U/api/people" | grep -o '"name":' | wc -l
}
if [ ! -s "$gallery" ]; then
  log "enrolling $people LFW people (one photo each) into $gallery ..."
  tmp=$work/g$people.building.vlrg
  rm -f "$tmp"
  start_server "$tmp" "$work/enrol.log"
  wait_frames
  n=0
  for dir in "$data"/lfw/images/*/; do
    [ "$n" -ge "$people" ] && break
    name=$(basename "$dir")
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 \
      -F "name=$name" -F "images=@$dir/1.jpg" "$U/api/people")
    case $code in 201) n=$((n + 1)) ;; 409 | 422) ;; *) die "enrolling $name: HTTP $code" ;; esac
    if [ "$code" = 201 ] && [ $((n % 100)) -eq 0 ]; then log "  $n"; fi
  done
  have=$(count_people)
  cleanup
  [ "$have" -ge "$people" ] || die "only $have people enrolled (not enough LFW photos with a face)"
  mv "$tmp" "$gallery"
fi

# --- one run ------------------------------------------------------------------------------------

results=$work/results.txt
: >"$results"
run() {  # run SCENARIO RUN-NUMBER: appends "scenario fps peak_mb rss_mb cpu_percent"
  local s=$1 k=$2 v g=$gallery
  if [ "$s" = f ]; then  # enrolment changes the gallery: a copy of it
    g=$work/g$people.enrol.vlrg
    cp "$gallery" "$g"
  fi
  start_server "$g" "$work/serve-$s-$k.log"
  wait_frames
  case $s in
    b) curl -s -N -o /dev/null "$U/api/stream?fps=15" & viewers+=($!) ;;
    c) for v in 1 2 3; do curl -s -N -o /dev/null "$U/api/stream?fps=15" & viewers+=($!); done ;;
    g) curl -s -N -o /dev/null "$U/api/stream?fps=15" & viewers+=($!)
       page_polls & viewers+=($!) ;;
  esac
  sleep "$warmup"
  case $s in
    d) upload "$probe" ;;
    e) upload "$big" ;;
    f) enrol "Bench_Enrolled_Person" "$probe" ;;
  esac
  local f0 f1 c0 c1 t0 t1 rss=() i
  f0=$(metric frame_number)
  c0=$(cpu_ticks)
  t0=$(date +%s.%N)
  for i in $(seq 1 "$seconds"); do
    sleep 1
    rss+=("$(status_kb VmRSS)")
  done
  f1=$(metric frame_number)
  c1=$(cpu_ticks)
  t1=$(date +%s.%N)
  local peak streams
  peak=$(status_kb VmHWM)
  streams=$(metric streams)
  case $s in
    b) [ "$streams" = 1 ] || log "warning: $streams stream clients in scenario b" ;;
    c) [ "$streams" = 3 ] || log "warning: $streams stream clients in scenario c" ;;
    g) [ "$streams" = 1 ] || log "warning: $streams stream clients in scenario g" ;;
  esac
  printf '%s\n' "${rss[@]}" | sort -n | awk -v s="$s" -v f0="$f0" -v f1="$f1" -v t0="$t0" \
    -v t1="$t1" -v c0="$c0" -v c1="$c1" -v clk="$clk" -v peak="$peak" '
    { v[NR] = $1 }
    END {
      med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%s %.2f %.1f %.1f %.0f\n", s, (f1 - f0) / (t1 - t0), peak / 1024, med / 1024,
             100 * (c1 - c0) / clk / (t1 - t0)
    }' | tee -a "$results" >&2
  cleanup
}

log "binary $bin, models $models, gallery $people people, --threads $threads," \
  "$runs run(s) x ${seconds}s after ${warmup}s warm-up; lines: scenario fps peak_mb rss_mb cpu%"
for k in $(seq 1 "$runs"); do
  for s in $scenarios; do run "$s" "$k"; done
done

# --- the table ----------------------------------------------------------------------------------

echo
echo "| scenario | runs | processed fps | peak RSS (MB) | RSS (MB) | CPU (%) | per client: fps | per client: peak RSS (MB) |"
echo "|---|---|---|---|---|---|---|---|"
awk '
  function med(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
      t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
    }
    lo = a[1]; hi = a[n]
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { fps[$1] = fps[$1] " " $2; pk[$1] = pk[$1] " " $3; rs[$1] = rs[$1] " " $4; cpu[$1] = cpu[$1] " " $5
    runs[$1]++; if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 } }
  END {
    name["a"] = "a: no client"; name["b"] = "b: 1 stream viewer"; name["c"] = "c: 3 stream viewers"
    name["d"] = "d: after one /api/identify (250x250)"; name["e"] = "e: after one /api/identify (3000x3000)"
    name["f"] = "f: after one enrolment (POST /api/people, 250x250)"
    name["g"] = "g: one page open (stream + polls, emulated)"
    clients["b"] = 1; clients["c"] = 3; clients["g"] = 1
    if ("a" in seen) { base_f = med(fps["a"]); base_p = med(pk["a"]) }
    for (i = 1; i <= ns; i++) {
      s = order[i]
      f = med(fps[s]); flo = lo; fhi = hi
      p = med(pk[s]); plo = lo; phi = hi
      r = med(rs[s]); c = med(cpu[s])
      per_f = "-"; per_p = "-"
      if (("a" in seen) && (s in clients)) {
        per_f = sprintf("%+.2f", (f - base_f) / clients[s])
        per_p = sprintf("%+.1f", (p - base_p) / clients[s])
      } else if (("a" in seen) && s != "a") {
        per_p = sprintf("%+.1f (the request)", p - base_p)
      }
      printf "| %s | %d | %.2f (%.2f..%.2f) | %.1f (%.1f..%.1f) | %.1f | %.0f | %s | %s |\n",
             name[s] ? name[s] : s, runs[s], f, flo, fhi, p, plo, phi, r, c, per_f, per_p
    }
  }' "$results"
