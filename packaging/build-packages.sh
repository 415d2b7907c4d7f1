#!/usr/bin/env bash
# Builds the release artifacts into dist/ (what `make packages` runs):
#   oss-connector-lib_<version>_<arch>.deb   (dpkg-deb)
#   oss-connector-lib-<version>.<arch>.rpm   (rpmbuild; Debian package "rpm")
#   ossconnector-<version>-cp39-abi3-manylinux_2_28_x86_64.whl
#                                            (packaging/manylinux/build-wheel.sh)
#
# Usage: packaging/build-packages.sh [deb] [rpm] [wheel]   (default: all three)
# Environment: DIST_DIR (default dist), BUILD_DIR (meson build of the library,
# default build-pkg), PYTHON (default python3), MAINTAINER (deb Maintainer field),
# OSSC_WHEEL_CACHE (the wheel's dependency build cache, default build-manylinux).
#
# The library is built once for both packages:
#   meson setup build-pkg -Dpython=false -Dtests=false --prefix=/usr/local --libdir=lib
# and installed into a staging tree that both packages are made from, so the
# .deb and the .rpm carry the same bytes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE="$ROOT/packaging"
cd "$ROOT"
DIST=$(mkdir -p "${DIST_DIR:-$ROOT/dist}" && cd "${DIST_DIR:-$ROOT/dist}" && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-pkg}
PYTHON=${PYTHON:-python3}
MAINTAINER=${MAINTAINER:-"oss-connector developers <oss-connector@localhost>"}
NAME=oss-connector-lib

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(deb rpm wheel)
for w in "${want[@]}"; do
    case "$w" in deb|rpm|wheel) ;; *) echo "usage: $0 [deb] [rpm] [wheel]" >&2; exit 2 ;; esac
done
wants() { local w; for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "$0: $1 not found ($2)" >&2; exit 1; }
}

VERSION=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -n1)
[ -n "$VERSION" ] || { echo "$0: cannot read the version from meson.build" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ossc-pkg.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# -- the library, staged once -------------------------------------------------
stage_library() {
    need meson "pip install meson"
    need ninja "apt-get install ninja-build"
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" -Dpython=false -Dtests=false --prefix=/usr/local --libdir=lib \
            --buildtype=release >/dev/null
    fi
    ninja -C "$BUILD" >/dev/null
    STAGE="$WORK/stage"
    DESTDIR="$STAGE" meson install -C "$BUILD" --no-rebuild --quiet
    local lib="$STAGE/usr/local/lib/libossc_preload.so"
    [ -f "$lib" ] || { echo "$0: meson did not install $lib" >&2; exit 1; }
    strip --strip-unneeded "$lib"
    chmod 0644 "$lib"
    install -D -m 0644 "$HERE/config.json" "$STAGE/etc/oss-connector/config.json"
    install -d -m 0755 "$STAGE/var/log/oss-connector"
    install -D -m 0644 "$HERE/README" "$STAGE/usr/share/doc/$NAME/README"
    install -D -m 0644 "$HERE/copyright" "$STAGE/usr/share/doc/$NAME/copyright"
    install -d -m 0755 "$STAGE/usr/share/man/man7"
    sed "s/@VERSION@/$VERSION/" "$HERE/$NAME.7" | gzip -9n > "$STAGE/usr/share/man/man7/$NAME.7.gz"
    chmod 0644 "$STAGE/usr/share/man/man7/$NAME.7.gz"
}

# Depends: from the library's NEEDED entries (dpkg-shlibdeps), else the known list.
deb_depends() {
    local lib="$1" out
    if command -v dpkg-shlibdeps >/dev/null 2>&1; then
        mkdir -p "$WORK/shlibs/debian"
        printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$NAME" "$NAME" \
            > "$WORK/shlibs/debian/control"
        if out=$(cd "$WORK/shlibs" && dpkg-shlibdeps -O -e"$lib" 2>/dev/null); then
            echo "${out#shlibs:Depends=}"
            return
        fi
    fi
    echo "libc6, libcurl4 (>= 7.68), libssl3, libxml2, libjansson4, libhiredis0.14, libmicrohttpd12"
}

build_deb() {
    need dpkg-deb "apt-get install dpkg"
    local arch pkg depends size out
    arch=$(dpkg --print-architecture)
    pkg="$WORK/deb"
    mkdir -p "$pkg"
    cp -a "$STAGE/." "$pkg/"
    install -d -m 0755 "$pkg/DEBIAN"
    install -m 0644 "$HERE/deb/conffiles" "$pkg/DEBIAN/conffiles"
    install -m 0755 "$HERE/deb/postrm" "$pkg/DEBIAN/postrm"
    depends=$(deb_depends "$pkg/usr/local/lib/libossc_preload.so")
    size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
    sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$arch/" -e "s/@MAINTAINER@/$MAINTAINER/" \
        -e "s/@INSTALLED_SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
        "$HERE/deb/control.in" > "$pkg/DEBIAN/control"
    (cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
        xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
    chmod 0644 "$pkg/DEBIAN/md5sums"
    out="$DIST/${NAME}_${VERSION}_${arch}.deb"
    dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
    echo "$out"
}

build_rpm() {
    need rpmbuild "apt-get install rpm"
    local arch top out
    arch=$(uname -m)
    top="$WORK/rpmbuild"
    mkdir -p "$top"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS}
    rpmbuild -bb --quiet --target "$arch" \
        --define "_topdir $top" \
        --define "_rpmdir $DIST" \
        --define "_rpmfilename %%{NAME}-%%{VERSION}.%%{ARCH}.rpm" \
        --define "_build_id_links none" \
        --define "pkg_version $VERSION" \
        --define "stage $STAGE" \
        "$HERE/rpm/$NAME.spec" >/dev/null
    out="$DIST/$NAME-$VERSION.$arch.rpm"
    [ -f "$out" ] || { echo "$0: rpmbuild did not produce $out" >&2; exit 1; }
    echo "$out"
}

build_wheel() {
    # The portable manylinux_2_28 wheel (packaging/manylinux/build-wheel.sh):
    # its dependencies built from source with zig cc, cached in
    # $OSSC_WHEEL_CACHE (default build-manylinux/).
    rm -f "$DIST"/ossconnector-"$VERSION"-*.whl
    PYTHON="$PYTHON" bash "$HERE/manylinux/build-wheel.sh" "$DIST"
}

if wants deb || wants rpm; then
    stage_library
fi
if wants deb; then build_deb; fi
if wants rpm; then build_rpm; fi
if wants wheel; then build_wheel; fi
