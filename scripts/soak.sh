#!/usr/bin/env bash
# scripts/soak.sh — does `vlrface serve` leak over a long run? (issue #12, item 7)
#
# Runs the live path over N processed frames (default 10,000) of a looped video with clients
# connected the whole time, and compares the server's memory (VmRSS) and open file descriptors
# (/proc/PID/fd) after the warm-up with those at the end. Fails (exit 1) when RSS grew by more
# than the allowed drift (default 1 MB) or the descriptors grew at all.
#
# Usage: scripts/soak.sh [options]
#   -b BIN      the vlrface binary           (default: build/bin/vlrface)
#   -m DIR      prepared models              (default: $VLRFACE_MODELS, else build/share/vlrface/models)
#   -d DIR      datasets holding orl/        (default: $VLRFACE_DATA, else ../shared/datasets)
#   -w DIR      work folder                  (default: build/soak)
#   -n FRAMES   processed frames to soak     (default: 10000)
#   -W FRAMES   warm-up frames before the first sample (default: 500)
#   -s N        MJPEG stream clients         (default: 2; at most serve's --max-streams, 4)
#   -p N        polling clients              (default: 2)
#   -r KB       allowed RSS drift            (default: 1024)
#   -T SECONDS  give up (and fail) after this long (default: 3600)
#   -h          this help
# Clients, all on loopback, all ended with the run: a stream client is `curl /api/stream?fps=15`
# reading and discarding the frames; a polling client does what the open page does with a face
# selected: every 0.3 s /api/snapshot and that face's two pictures, every 1 s /api/metrics, and
# every 3 s /api/people and /api/health.
# Camera: ORL s01 (images 4..10) at 320x320 in a grey 640x480 frame, 30 fps MJPEG, looped; the
# gallery: s01 enrolled from images 1..3, so faces are recognised (named) all along.
# A sample is the median of 11 readings 0.2 s apart (RSS moves by a frame buffer or two from
# one moment to the next); fds are the smallest of those readings (a poll in flight holds one).
# Needs: curl, ffmpeg, awk.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/bin/vlrface
models=${VLRFACE_MODELS:-$here/build/share/vlrface/models}
data=${VLRFACE_DATA:-$here/../shared/datasets}
work=$here/build/soak
frames=10000
warmup=500
streams=2
pollers=2
drift_kb=1024
limit_s=3600
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while getopts "b:m:d:w:n:W:s:p:r:T:h" opt; do
  case $opt in
    b) bin=$OPTARG ;; m) models=$OPTARG ;; d) data=$OPTARG ;; w) work=$OPTARG ;;
    n) frames=$OPTARG ;; W) warmup=$OPTARG ;; s) streams=$OPTARG ;; p) pollers=$OPTARG ;;
    r) drift_kb=$OPTARG ;; T) limit_s=$OPTARG ;;
    h) usage; exit 0 ;; *) usage >&2; exit 2 ;;
  esac
done
die() { echo "soak: $*" >&2; exit 1; }
log() { echo "soak: $*" >&2; }
[ -x "$bin" ] || die "no vlrface binary at $bin (build first, or pass -b)"
[ -f "$models/edgeface_xxs.json" ] || die "models not prepared in $models (-m / VLRFACE_MODELS)"
[ -d "$data/orl/images/s01" ] || die "no ORL faces in $data/orl/images (-d / VLRFACE_DATA)"
for tool in curl ffmpeg awk; do command -v $tool >/dev/null || die "$tool not installed"; done
[ "$streams" -le 4 ] || die "-s: at most 4 stream clients (serve's --max-streams)"
mkdir -p "$work"
work=$(cd "$work" && pwd)

video=$work/camera.avi
if [ ! -s "$video" ]; then
  tmp=$(mktemp -d "$work/frames.XXXXXX")
  for i in 4 5 6 7 8 9 10; do cp "$data/orl/images/s01/$i.jpg" "$tmp/f$((i - 4)).jpg"; done
  ffmpeg -v error -y -framerate 2 -i "$tmp/f%d.jpg" \
    -vf scale=320:320,pad=640:480:160:80:color=0x5a5a5a,fps=30,format=yuvj420p \
    -c:v mjpeg -q:v 3 "$video.tmp.avi"
  mv "$video.tmp.avi" "$video"
  rm -rf "$tmp"
fi
gallery=$work/soak.vlrg
rm -f "$gallery"
"$bin" -q --models "$models" --gallery "$gallery" enroll s01 \
  "$data"/orl/images/s01/{1,2,3}.jpg >/dev/null

pid=""
clients=()
cleanup() {
  local c
  for c in "${clients[@]}"; do kill "$c" 2>/dev/null || true; done
  for c in "${clients[@]}"; do wait "$c" 2>/dev/null || true; done
  clients=()
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

out=$work/serve.out
"$bin" --models "$models" --gallery "$gallery" serve --camera "$video" --loop --port 0 \
  >"$out" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 1 600); do
  line=$(head -n 1 "$out")
  case $line in "vlrface serve: listening on http://"*) break ;; esac
  kill -0 "$pid" 2>/dev/null || die "the server ended at start-up: $(tail -n 5 "$work/serve.log")"
  sleep 0.1
done
U=${line#vlrface serve: listening on }
U=${U%/}
[ "$U" != "$line" ] || die "the server did not start within 60 s"

frame_number() {
  curl -s --max-time 5 "$U/api/metrics" | grep -o '"frame_number":[0-9]*' | cut -d: -f2
}
poller() {  # what the open page asks for besides the stream, until killed
  local i=0 snap urls
  while :; do
    snap=$(curl -s --max-time 5 "$U/api/snapshot") || true
    urls=$(printf '%s' "$snap" | grep -o '"/api/faces/[^"]*"' | head -n 2 | tr -d '"' |
      sed "s|^|$U|")
    # shellcheck disable=SC2086
    [ -n "$urls" ] && curl -s --max-time 5 -o /dev/null -o /dev/null $urls
    [ $((i % 3)) -eq 0 ] && curl -s --max-time 5 -o /dev/null "$U/api/metrics"
    [ $((i % 10)) -eq 0 ] && curl -s --max-time 5 -o /dev/null "$U/api/people" &&
      curl -s --max-time 5 -o /dev/null "$U/api/health"
    i=$((i + 1))
    sleep 0.3
  done
}
for _ in $(seq 1 "$streams"); do
  curl -s -N --max-time "$limit_s" -o /dev/null "$U/api/stream?fps=15" &
  clients+=($!)
done
for _ in $(seq 1 "$pollers"); do poller & clients+=($!); done

t_start=$(date +%s)
wait_for_frame() {  # wait_for_frame N: until the server has processed N frames
  local n=0 last=-1 last_t
  last_t=$(date +%s)
  while :; do
    n=$(frame_number || echo 0)
    n=${n:-0}
    [ "$n" -ge "$1" ] && return 0
    kill -0 "$pid" 2>/dev/null || die "the server died at frame $n: $(tail -n 5 "$work/serve.log")"
    [ $(($(date +%s) - t_start)) -lt "$limit_s" ] || die "only $n of $1 frames after $limit_s s"
    if [ $(($(date +%s) - last_t)) -ge 60 ]; then
      [ "$n" -gt "$last" ] || die "no frame processed for 60 s (stuck at $n)"
      log "frame $n of $1, RSS $(rss_kb) kB, fds $(fd_count)"
      last=$n
      last_t=$(date +%s)
    fi
    sleep 1
  done
}
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status"; }
fd_count() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
sample() {  # prints "rss_kb fds frame": median RSS and fewest fds of 11 readings 0.2 s apart
  local r=() f=() i
  for i in $(seq 1 11); do
    r+=("$(rss_kb)")
    f+=("$(fd_count)")
    sleep 0.2
  done
  printf '%s %s %s\n' "$(printf '%s\n' "${r[@]}" | sort -n | sed -n 6p)" \
    "$(printf '%s\n' "${f[@]}" | sort -n | head -n 1)" "$(frame_number)"
}

log "server $U (pid $pid), $streams stream + $pollers polling clients; warming up $warmup frames"
wait_for_frame "$warmup"
read -r rss0 fds0 f0 < <(sample)
t0=$(date +%s)
log "start: frame $f0, RSS $rss0 kB, fds $fds0; soaking $frames frames"
wait_for_frame $((f0 + frames))
read -r rss1 fds1 f1 < <(sample)
t1=$(date +%s)
live=$(curl -s --max-time 5 "$U/api/metrics" | grep -o '"streams":[0-9]*' | cut -d: -f2)
peak=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
cleanup

drift=$((rss1 - rss0))
printf '\n| frames | clients | seconds | processed fps | RSS start (kB) | RSS end (kB) | drift (kB) | peak RSS (kB) | fds start | fds end |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
awk -v n=$((f1 - f0)) -v s="$streams" -v p="$pollers" -v t=$((t1 - t0)) -v r0="$rss0" \
  -v r1="$rss1" -v d="$drift" -v pk="$peak" -v a="$fds0" -v b="$fds1" 'BEGIN {
  printf "| %d (%d..%d) | %d stream + %d polling | %d | %.1f | %d | %d | %+d | %d | %d | %d |\n",
    n, 0, 0, s, p, t, n / (t > 0 ? t : 1), r0, r1, d, pk, a, b }' | sed "s/(0..0)/($f0..$f1)/"
echo "stream clients connected at the end: ${live:-?} of $streams"
status=0
if [ "$drift" -gt "$drift_kb" ]; then
  echo "soak: FAIL: RSS grew by $drift kB over $((f1 - f0)) frames (allowed: $drift_kb kB)"
  status=1
fi
if [ "$fds1" -gt "$fds0" ]; then
  echo "soak: FAIL: open file descriptors grew from $fds0 to $fds1"
  status=1
fi
[ "${live:-0}" = "$streams" ] || { echo "soak: FAIL: stream clients dropped (${live:-?} of $streams)"; status=1; }
[ $status -eq 0 ] && echo "soak: ok: RSS drift $drift kB (allowed $drift_kb), fds $fds0 -> $fds1"
exit $status
