#!/usr/bin/env bash
# Builds the portable wheel: ossconnector-<version>-cp39-abi3-manylinux_2_28_x86_64.whl,
# needing nothing on the target machine but glibc >= 2.28 and CPython >= 3.9
# (and cffi, a dependency pip installs).
#
#   1. build-deps.sh: libcurl, OpenSSL, libxml2, jansson, hiredis and
#      libmicrohttpd as static archives for glibc 2.28 (cached);
#   2. meson-python with zig cc for glibc 2.28 and -Dportable=true: the
#      archives are linked into libossc_preload.so, which exports only our
#      symbols (libpreload/export_map.py); the cffi extension uses the
#      limited API, so one wheel serves every CPython >= 3.9;
#   3. auditwheel show: checks that nothing outside the wheel but glibc
#      (<= 2.28) is needed; the wheel is then tagged manylinux_2_28.
#
# Usage: packaging/manylinux/build-wheel.sh [OUTPUT_DIR]   (default dist/)
# Environment: OSSC_WHEEL_CACHE, GLIBC_VERSION, JOBS (see build-deps.sh),
# PYTHON (default python3).  The meson build directory is kept in the cache
# (meson-wheel/), so a rebuild after a source change recompiles only that.
# Prints the wheel's path on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/packaging/manylinux"
OUT=$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)
PYTHON=${PYTHON:-python3}
export OSSC_WHEEL_CACHE=$(mkdir -p "${OSSC_WHEEL_CACHE:-$ROOT/build-manylinux}" && cd "${OSSC_WHEEL_CACHE:-$ROOT/build-manylinux}" && pwd)
CACHE=$OSSC_WHEEL_CACHE
GLIBC_VERSION=${GLIBC_VERSION:-2.28}
PLAT="manylinux_${GLIBC_VERSION/./_}_x86_64"

die() { echo "build-wheel: $*" >&2; exit 1; }

PREFIX=$(PYTHON="$PYTHON" bash "$HERE/build-deps.sh" | tail -n1)
[ -f "$PREFIX/lib/libcurl.a" ] || die "build-deps.sh left no libcurl.a in $PREFIX/lib"
for tool in auditwheel wheel; do
    "$PYTHON" -m $tool --help >/dev/null 2>&1 || die "$tool is not installed ($PYTHON -m pip install $tool)"
done

# Only the prefix's .pc files: a system library found by pkg-config would be
# linked dynamically and tie the wheel to this distribution.
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig" PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
NATIVE="$CACHE/native.ini"
cat > "$NATIVE.tmp" <<INI
[binaries]
c = '$CACHE/bin/zcc'
ar = '$CACHE/bin/zar'
strip = 'strip'

[built-in options]
pkg_config_path = '$PREFIX/lib/pkgconfig'
INI
mv "$NATIVE.tmp" "$NATIVE"

RAW="$CACHE/raw-wheel"
rm -rf "$RAW" && mkdir -p "$RAW"
# The meson build dir is kept in the cache: a rebuild compiles what changed.
"$PYTHON" -m pip wheel "$ROOT" --no-build-isolation --no-deps -q -w "$RAW" \
    -Cbuild-dir="$CACHE/meson-wheel" \
    -Csetup-args=--native-file="$NATIVE" -Csetup-args=-Dportable=true >&2 ||
    die "pip wheel failed"
raw=$(ls "$RAW"/ossconnector-*.whl)
# meson-python tags an abi3 wheel with the building interpreter (cp311);
# _ossc_ffi is built for the 3.9 limited API (python/meson.build), so cp39.
case "$raw" in *-abi3-*) ;; *) die "expected an abi3 wheel, got $(basename "$raw")" ;; esac
"$PYTHON" -m wheel tags --python-tag cp39 --remove "$raw" >/dev/null ||
    die "wheel tags failed ($PYTHON -m pip install wheel)"
raw=$(ls "$RAW"/ossconnector-*-cp39-abi3-*.whl)

# auditwheel show: the wheel must need nothing outside it but glibc <= the
# target (the tag it reports); then the platform tag is set.  No `repair`:
# there is nothing to graft, and the binaries stay as linked.
shown=$("$PYTHON" -m auditwheel show "$raw" 2>&1) || die "auditwheel show failed: $shown"
echo "$shown" > "$CACHE/auditwheel-show.txt"
# It names the most compatible tag the symbol versions allow (e.g.
# manylinux_2_26): anything up to the glibc we compiled for will do.
found=$(tr -s ' \n' '  ' <<<"$shown" |
    sed -n 's/.*consistent with the following platform tag: "manylinux_2_\([0-9]*\)_x86_64".*/\1/p')
if [ -z "$found" ] || [ "$found" -gt "${GLIBC_VERSION#2.}" ]; then
    echo "$shown" >&2
    die "auditwheel does not find the wheel consistent with $PLAT"
fi
"$PYTHON" -m wheel tags --platform-tag "$PLAT" --remove "$raw" >/dev/null || die "wheel tags failed"
fixed=$(ls "$RAW"/ossconnector-*-cp39-abi3-"$PLAT".whl)
rm -f "$OUT"/ossconnector-*-cp39-abi3-*.whl
mv "$fixed" "$OUT/"
echo "$OUT/$(basename "$fixed")"
