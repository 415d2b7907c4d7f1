#!/usr/bin/env bash
# build_bundle.sh OUTDIR: everything run.sh needs on an inference host that
# has Python, torch and a GPU but no compiler, no network and maybe no
# libcurl, as plain files in OUTDIR (about 20 MB):
#   rt/libossc_preload.so  the connector, built here (release), and rt/curl,
#                          RUNPATH $ORIGIN/lib; rt/lib.tar.xz every library
#                          both need except glibc, libstdc++ and libgcc_s
#                          (glibc >= this machine's is needed on the host;
#                          run.sh unpacks them with Python's tarfile)
#   site/                  localbucket (pure Python, one module) for the server
#   site-fallback/         safetensors (abi3 wheel contents), used only when
#                          the host's Python has none
#   localbucket_oss.py     the project's OSS adapter in front of localbucket
#   gen_model.py load_worker.py host_bench.py run.sh   the benchmark itself
#   BUNDLE.txt             what was built from what
# Needs, here: the build deps (meson, ninja, a C compiler, libcurl-dev ...),
# patchelf, curl, and localbucket and safetensors importable by python3.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
for tool in meson ninja patchelf curl python3; do
    command -v "$tool" >/dev/null || { echo "build_bundle.sh: $tool not found" >&2; exit 1; }
done
B=$(mktemp -d)
trap 'rm -rf "$B"' EXIT
meson setup "$B" "$SRC" -Dpython=false -Dtests=false --buildtype=release >/dev/null
ninja -C "$B" >/dev/null
rm -rf "$OUT/rt" "$OUT/site" "$OUT/site-fallback"
mkdir -p "$OUT/rt/lib" "$OUT/site" "$OUT/site-fallback"
cp "$(find "$B" -name libossc_preload.so | head -1)" "$OUT/rt/"
cp "$(command -v curl)" "$OUT/rt/curl"
for bin in "$OUT/rt/libossc_preload.so" "$OUT/rt/curl"; do
    ldd "$bin" | awk '/=> \//{print $3}' | while read -r lib; do
        case $(basename "$lib") in
            libc.so*|libm.so*|libpthread*|libdl.so*|librt.so*|libresolv*|ld-linux*|libstdc++*|libgcc_s*) ;;
            *) cp -L "$lib" "$OUT/rt/lib/" ;;
        esac
    done
done
chmod u+w "$OUT/rt/lib"/* "$OUT/rt/curl"
for f in "$OUT/rt/libossc_preload.so" "$OUT/rt/curl"; do patchelf --set-rpath '$ORIGIN/lib' "$f"; done
for f in "$OUT/rt/lib"/*; do patchelf --set-rpath '$ORIGIN' "$f"; done
tar -C "$OUT/rt/lib" -cJf "$OUT/rt/lib.tar.xz" .
rm -rf "$OUT/rt/lib"
python3 - "$OUT" <<'PY'
import os, shutil, sys
import localbucket, safetensors
out = sys.argv[1]
shutil.copy(localbucket.__file__, os.path.join(out, "site"))
shutil.copytree(os.path.dirname(safetensors.__file__), os.path.join(out, "site-fallback", "safetensors"),
                ignore=shutil.ignore_patterns("__pycache__"))
with open(os.path.join(out, "BUNDLE.txt"), "a") as f:
    f.write(f"localbucket {localbucket.__version__}, safetensors {safetensors.__version__}\n")
PY
cp "$SRC/scripts/bench/infra/localbucket_oss.py" "$HERE"/gen_model.py "$HERE"/load_worker.py \
   "$HERE"/host_bench.py "$HERE"/run.sh "$OUT/"
{
    echo "built $(date -u +%FT%TZ) on $(uname -srm), $(ldd --version | head -1)"
    echo "source $(git -C "$SRC" describe --always --dirty 2>/dev/null || echo '?')"
} >> "$OUT/BUNDLE.txt"
du -sh "$OUT"
