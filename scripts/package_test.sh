#!/usr/bin/env bash
# Builds vlrface_<version>_amd64.deb with CPack and tests it the way a user meets it: installs it
# with apt-get, runs the installed vlrface from a clean environment (no build tree, no VLRFACE_*
# variables), enrols and identifies ORL faces as the service's user into /var/lib/vlrface, then
# removes the package and checks what is left:
#   apt-get remove: nothing of the package but /var/lib/vlrface (the gallery: the owner's data)
#   apt-get purge:  /var/lib/vlrface gone too
# Needs root (or sudo), a build with prepared models (scripts/setup.sh) and the orl dataset.
#   VLRFACE_BUILD_DIR   the build to package (default: build)
#   VLRFACE_DATA        datasets folder holding orl (required)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${VLRFACE_BUILD_DIR:-build}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
fail() { echo "package_test: FAIL: $*" >&2; exit 1; }
T0=$(date +%s)
declare -a TIMINGS=()
mark() { TIMINGS+=("$(printf '%-36s %5d s' "$1" "$(( $(date +%s) - T0 ))")"); T0=$(date +%s); }
trap 'echo "== package_test: timings"; printf "  %s\n" "${TIMINGS[@]}"' EXIT

ORL="${VLRFACE_DATA:-}/orl/images"
[ -n "${VLRFACE_DATA:-}" ] && [ -d "$ORL" ] || fail "VLRFACE_DATA must hold orl/images (ORL faces)"
if dpkg-query -W -f='${Status}' vlrface 2>/dev/null | grep -q "installed"; then
  fail "vlrface is already installed on this machine; remove it first (apt-get purge vlrface)"
fi
[ -e /var/lib/vlrface ] && fail "/var/lib/vlrface exists already: the test could not tell what it left"

echo "== package_test: cpack in $BUILD"
cmake --build "$BUILD" -j"$(nproc)" --target vlrface vlrface_packaging_files >/dev/null
rm -f "$BUILD"/vlrface_*_amd64.deb
(cd "$BUILD" && cpack -G DEB >/dev/null)
DEB="$(realpath "$(ls "$BUILD"/vlrface_*_amd64.deb)")"
echo "$DEB"
mark "cpack"

echo "== package_test: contents"
dpkg-deb -I "$DEB"
contents="$(dpkg-deb -c "$DEB")"
for f in ./usr/bin/vlrface ./usr/share/vlrface/models/edgeface_xxs.onnx \
         ./usr/share/vlrface/models/edgeface_xxs.json ./usr/share/vlrface/models/yunet.json \
         ./usr/share/vlrface/models/face_detection_yunet_2023mar.onnx \
         ./usr/share/doc/vlrface/copyright ./usr/share/doc/vlrface/changelog.gz \
         ./usr/lib/systemd/system/vlrface.service; do
  grep -q " $f\$" <<<"$contents" || fail "$DEB lacks $f"
done
grep -q '/verify/' <<<"$contents" && fail "$DEB carries the test verification set"
depends="$(dpkg-deb -f "$DEB" Depends)"
depend_names="$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//')"
for d in libc6 libstdc++6 libopencv-dnn406 libsqlite3-0 adduser ffmpeg; do
  grep -q -x -F "$d" <<<"$depend_names" || fail "Depends lacks $d: $depends"
done
[ "$(dpkg-deb -f "$DEB" Architecture)" = amd64 ] || fail "Architecture is not amd64"
mark "contents"

echo "== package_test: apt-get install ./$(basename "$DEB")"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB" >/dev/null
mark "apt-get install"
dpkg -L vlrface | sort > "$BUILD/package-files.txt"
[ -x /usr/bin/vlrface ] || fail "/usr/bin/vlrface not installed"
getent passwd vlrface >/dev/null || fail "postinst made no vlrface user"
uid=$(id -u vlrface)
((uid < 1000)) || fail "vlrface is not a system user (uid $uid)"
[ "$(stat -c '%a %U' /var/lib/vlrface)" = "700 vlrface" ] \
  || fail "/var/lib/vlrface is $(stat -c '%a %U' /var/lib/vlrface), not 700 vlrface"
id -nG vlrface | grep -qw video || fail "vlrface is not in the video group"
for wants in /etc/systemd/system/*.wants/vlrface.service; do
  [ -e "$wants" ] && fail "the service is enabled ($wants): it must be off until enabled"
done

# The unit as installed (the binary's path filled in) is valid for this systemd.
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /usr/lib/systemd/system/vlrface.service || fail "systemd-analyze verify"
  grep -q '^ExecStart=/usr/bin/vlrface ' /usr/lib/systemd/system/vlrface.service \
    || fail "the unit does not start /usr/bin/vlrface"
fi

# The installed files only: a clean environment, a folder outside the source tree.
WORK="$(mktemp -d /tmp/vlrface-pkgtest.XXXXXX)"
chmod 0755 "$WORK"
clean() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
(cd "$WORK" && clean /usr/bin/vlrface --help) | grep -q 'enroll' || fail "vlrface --help"
(cd "$WORK" && clean /usr/bin/vlrface --version) | grep -q "vlrface $(dpkg-deb -f "$DEB" Version)" \
  || fail "vlrface --version does not match the package version"
man -w vlrface >/dev/null 2>&1 || [ ! -x "$(command -v man)" ] || fail "no man page"

# Enrol 5 ORL people (images 1-5) and identify each one's image 8, as the service's user in
# the service's state directory: that user can read the models and write its gallery.
people=(s01 s05 s12 s23 s37)
for p in "${people[@]}"; do
  mkdir -p "$WORK/$p"
  cp "$ORL/$p"/{1,2,3,4,5,8}.jpg "$WORK/$p/"
done
chmod -R a+rX "$WORK"
as_service() {
  (cd "$WORK" && $SUDO runuser -u vlrface -- env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
    HOME=/var/lib/vlrface VLRFACE_GALLERY=/var/lib/vlrface/gallery.vlrg "$@")
}
for p in "${people[@]}"; do
  as_service /usr/bin/vlrface enroll "$p" "$WORK/$p"/{1,2,3,4,5}.jpg >/dev/null
done
as_service /usr/bin/vlrface gallery list | tee "$WORK/list.txt"
for p in "${people[@]}"; do grep -qw "$p" "$WORK/list.txt" || fail "$p not in the gallery"; done
for p in "${people[@]}"; do
  out="$(as_service /usr/bin/vlrface identify "$WORK/$p/8.jpg" --json)"
  name="$(grep -o '"name": *"[^"]*"' <<<"$out" | head -n1 | sed 's/.*"\([^"]*\)"$/\1/')"
  echo "  $p/8.jpg -> ${name:-unknown}"
  [ "$name" = "$p" ] || fail "$p/8.jpg identified as '${name:-unknown}': $out"
done
[ "$(stat -c '%U %a' /var/lib/vlrface/gallery.vlrg)" = "vlrface 600" ] \
  || fail "the gallery is $(stat -c '%U %a' /var/lib/vlrface/gallery.vlrg), not vlrface 600"
mark "help, enrol, identify (installed)"

echo "== package_test: apt-get remove vlrface"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q vlrface >/dev/null
left=()
while IFS= read -r path; do
  [ "$path" = "/." ] && continue
  if [ -L "$path" ] || [ -f "$path" ]; then
    left+=("$path")
  elif [ -d "$path" ] && ! dpkg -S "$path" >/dev/null 2>&1 && [ -z "$(ls -A "$path" 2>/dev/null)" ]; then
    left+=("$path (empty directory no package owns)")
  elif [ -d "$path" ] && ! dpkg -S "$path" >/dev/null 2>&1; then
    left+=("$path (directory no package owns)")
  fi
done < "$BUILD/package-files.txt"
((${#left[@]} == 0)) || fail "left after remove: ${left[*]}"
[ -f /var/lib/vlrface/gallery.vlrg ] || fail "remove deleted the gallery; only purge may"
echo "  left: /var/lib/vlrface ($(ls /var/lib/vlrface | tr '\n' ' '))"
mark "apt-get remove"

echo "== package_test: apt-get purge vlrface"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q vlrface >/dev/null
[ -e /var/lib/vlrface ] && fail "purge left /var/lib/vlrface"
dpkg-query -W -f='${Status}' vlrface 2>/dev/null | grep -q 'installed\|config-files' \
  && fail "dpkg still lists vlrface after purge"
echo "  left: the vlrface system user (Debian keeps system users: files elsewhere may be theirs)"
rm -rf "$WORK"
mark "apt-get purge"
echo "== package_test: OK ($DEB)"
