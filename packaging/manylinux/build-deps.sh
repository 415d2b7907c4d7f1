#!/usr/bin/env bash
# Builds the engine's dependencies from Debian's sources as static, -fPIC
# archives for glibc 2.28 (manylinux_2_28), with zig's C compiler (PyPI's
# `ziglang`) as the toolchain:
#   OpenSSL (libcrypto + libssl), curl (HTTP/1.1 over OpenSSL), libxml2,
#   jansson, hiredis, libmicrohttpd.
# Only the features the engine uses are built (no HTTP/2, LDAP, SSH, IDN,
# PSL, zlib, brotli, HTTPS in libmicrohttpd...), which also keeps the build
# short: about 6 minutes on 2 cores from nothing, seconds when cached.
#
# Usage: packaging/manylinux/build-deps.sh
# Environment:
#   OSSC_WHEEL_CACHE  the cache directory (default build-manylinux/ in the
#                     checkout): src/ (Debian source packages, patched),
#                     prefix/ (headers, lib/*.a, lib/pkgconfig), bin/ (the
#                     compiler wrappers), zig-cache/.  A dependency whose
#                     stamp is in prefix/ is not rebuilt.
#   GLIBC_VERSION     the oldest glibc the result runs on (default 2.28)
#   JOBS              parallel compile jobs (default: nproc)
# Prints the prefix on stdout; progress goes to stderr.
#
# Sources come from `apt-get source` (with source lists derived from the
# system's Debian lines, in a private apt configuration under the cache:
# /etc/apt is not changed), so Debian's security patches are in.
# An unpacked source is kept: to take a newer Debian upload, remove its
# directory under src/ (the stamp then no longer matches and it is rebuilt).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=$(mkdir -p "${OSSC_WHEEL_CACHE:-$ROOT/build-manylinux}" && cd "${OSSC_WHEEL_CACHE:-$ROOT/build-manylinux}" && pwd)
GLIBC_VERSION=${GLIBC_VERSION:-2.28}
JOBS=${JOBS:-$(nproc)}
PYTHON=${PYTHON:-python3}
PREFIX="$CACHE/prefix"
SRC="$CACHE/src"
mkdir -p "$PREFIX/lib" "$PREFIX/include" "$SRC" "$CACHE/bin" "$CACHE/build"

say() { echo "build-deps: $*" >&2; }
die() { echo "build-deps: $*" >&2; exit 1; }

# -- the toolchain: zig cc for x86_64-linux-gnu.<GLIBC_VERSION> -------------
ZIG=$("$PYTHON" -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))' 2>/dev/null) ||
    die "PyPI's ziglang is not installed ($PYTHON -m pip install ziglang)"
[ -x "$ZIG" ] || die "no zig binary at $ZIG"
export ZIG_GLOBAL_CACHE_DIR="$CACHE/zig-cache" ZIG_LOCAL_CACHE_DIR="$CACHE/zig-cache"
TARGET="x86_64-linux-gnu.$GLIBC_VERSION"
# Wrappers, so that autoconf, OpenSSL's Configure and meson each see one
# word.  -O2 always: zig cc without an -O flag turns UBSan traps on.
write_wrapper() {
    local name=$1 body=$2
    printf '#!/bin/sh\n%s\n' "$body" > "$CACHE/bin/$name.tmp"
    chmod +x "$CACHE/bin/$name.tmp"
    mv "$CACHE/bin/$name.tmp" "$CACHE/bin/$name"
}
write_wrapper zcc "ZIG_GLOBAL_CACHE_DIR='$ZIG_GLOBAL_CACHE_DIR' ZIG_LOCAL_CACHE_DIR='$ZIG_LOCAL_CACHE_DIR' exec '$ZIG' cc -target $TARGET \"\$@\""
write_wrapper zar "exec '$ZIG' ar \"\$@\""
write_wrapper zranlib "exec '$ZIG' ranlib \"\$@\""
export CC="$CACHE/bin/zcc" AR="$CACHE/bin/zar" RANLIB="$CACHE/bin/zranlib"
export CFLAGS="-O2 -fPIC -fno-sanitize=undefined -g0"
export CPPFLAGS="-I$PREFIX/include"
export LDFLAGS="-L$PREFIX/lib"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig"
HOST=x86_64-linux-gnu

# -- sources -------------------------------------------------------------------
# Debian's source lists in a private apt configuration under the cache
# (nothing in /etc/apt is changed): APT_SRC holds the options for apt-get.
APT_SRC=()
ensure_deb_src() {
    [ ${#APT_SRC[@]} -eq 0 ] || return 0
    local list=/etc/apt/sources.list.d/debian.sources apt="$CACHE/apt"
    [ -f "$list" ] || die "no $list to derive Debian's source lists from"
    mkdir -p "$apt/lists/partial"
    sed 's/^Types: deb$/Types: deb-src/' "$list" > "$apt/src.sources"
    APT_SRC=(-o "Dir::Etc::SourceList=$apt/src.sources" -o "Dir::Etc::SourceParts=$apt/none"
             -o "Dir::State::Lists=$apt/lists")
    say "reading Debian's source lists (private to $apt)"
    apt-get "${APT_SRC[@]}" update -qq >&2
}

# fetch <source package>: unpacks it under src/ once; prints the directory.
# Debian's patches are applied (dpkg-source); where the .dsc cannot be had
# (a security upload whose .dsc the mirror lacks) the upstream tarball is used.
fetch() {
    local pkg=$1 dir
    dir=$(find "$SRC" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n1)
    if [ -n "$dir" ]; then echo "$dir"; return; fi
    ensure_deb_src
    local dl="$SRC/download-$pkg"
    rm -rf "$dl" && mkdir -p "$dl" && chmod 0777 "$dl"  # apt's _apt user downloads
    say "fetching the source of $pkg"
    (cd "$dl" && apt-get "${APT_SRC[@]}" source --download-only -qq "$pkg" >&2) || true
    local dsc orig
    dsc=$(ls "$dl"/*.dsc 2>/dev/null | head -n1 || true)
    if [ -n "$dsc" ] && (cd "$dl" && dpkg-source --no-check -x "$(basename "$dsc")" "$SRC/$pkg-src" >&2); then
        :
    else
        orig=$(ls "$dl"/*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n1 || true)
        [ -n "$orig" ] || die "apt-get source $pkg gave neither a .dsc nor an .orig tarball"
        say "$pkg: no usable .dsc, building the upstream tarball $(basename "$orig")"
        mkdir -p "$SRC/$pkg-src"
        tar -xf "$orig" -C "$SRC/$pkg-src" --strip-components=1
    fi
    rm -rf "$dl"
    local version
    if [ -f "$SRC/$pkg-src/debian/changelog" ]; then
        version=$(cd "$SRC/$pkg-src" && dpkg-parsechangelog -S Version)
    else
        version=$(basename "$orig"); version=${version#"${pkg}_"}; version=${version%%.orig.tar.*}
    fi
    mv "$SRC/$pkg-src" "$SRC/$pkg-${version//[^A-Za-z0-9.+~-]/_}"
    find "$SRC" -maxdepth 1 -type d -name "$pkg-[0-9]*" | head -n1
}

# built <name> <source dir>: true when the stamp for this source is there.
built() { [ -f "$PREFIX/.stamp-$1-$(basename "$2")" ]; }
stamp() { rm -f "$PREFIX/.stamp-$1-"*; touch "$PREFIX/.stamp-$1-$(basename "$2")"; }

# -- each dependency -------------------------------------------------------------
build_openssl() {
    local src; src=$(fetch openssl)
    built openssl "$src" && return
    say "openssl: $(basename "$src")"
    local b="$CACHE/build/openssl"; rm -rf "$b"; cp -a "$src" "$b"
    # /etc/ssl: where most distributions keep (or link) cert.pem and certs/;
    # the engine also probes the other known bundle paths (http_ca.c).
    (cd "$b" && ./Configure linux-x86_64 --prefix="$PREFIX" --libdir=lib --openssldir=/etc/ssl \
        no-shared no-module no-dso no-engine no-tests no-legacy no-comp no-ssl3 no-dtls \
        no-srp no-idea no-seed no-rc2 no-rc4 no-rc5 no-md2 no-md4 no-mdc2 no-whirlpool \
        no-bf no-cast no-camellia no-aria no-sm2 no-sm3 no-sm4 no-siphash no-cms no-ts \
        no-ui-console no-afalgeng no-async no-ct no-gost no-padlockeng no-capieng \
        -fPIC -O2 -fno-sanitize=undefined >&2 &&
        make -s -j"$JOBS" build_libs >&2 && make -s install_dev >&2) || die "openssl failed"
    rm -rf "$b"
    stamp openssl "$src"
}

build_curl() {
    local src; src=$(fetch curl)
    built curl "$src" && return
    say "curl: $(basename "$src")"
    local b="$CACHE/build/curl"; rm -rf "$b"; mkdir -p "$b"
    (cd "$b" && "$src/configure" --host=$HOST --prefix="$PREFIX" --libdir="$PREFIX/lib" \
        --disable-shared --enable-static --with-pic --with-openssl="$PREFIX" \
        --enable-threaded-resolver --disable-ares \
        --without-ca-bundle --without-ca-path --with-ca-fallback \
        --without-nghttp2 --without-nghttp3 --without-ngtcp2 --without-quiche --without-msh3 \
        --without-libpsl --without-libidn2 --without-libssh --without-libssh2 --without-librtmp \
        --without-zlib --without-brotli --without-zstd --without-libgsasl --without-gssapi \
        --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet \
        --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp \
        --disable-gopher --disable-mqtt --disable-ftp --disable-file --disable-manual \
        --disable-ntlm --disable-ntlm-wb --disable-kerberos-auth --disable-negotiate-auth \
        --disable-alt-svc --disable-hsts --disable-libcurl-option \
        --disable-curldebug --disable-dependency-tracking >&2 &&
        make -s -j"$JOBS" -C lib >&2 && make -s -C lib install >&2 &&
        make -s -C include install >&2 && make -s install-pkgconfigDATA >&2) || die "curl failed"
    rm -rf "$b"
    stamp curl "$src"
}

build_autotools() {  # build_autotools <name> <source dir> <configure args...>
    local name=$1 src=$2; shift 2
    local b="$CACHE/build/$name"; rm -rf "$b"; mkdir -p "$b"
    (cd "$b" && "$src/configure" --host=$HOST --prefix="$PREFIX" --libdir="$PREFIX/lib" \
        --disable-shared --enable-static --with-pic --disable-dependency-tracking "$@" >&2 &&
        make -s -j"$JOBS" >&2 && make -s install >&2) || die "$name failed"
    rm -rf "$b"
}

# regenerate <source dir> <name>: autoreconf once per unpacked source (a
# stamp beside configure), so that patched Makefile.am files do not send
# make after automake in the middle of the build.
regenerate() {
    [ -f "$1/.ossc-autoreconf" ] && return
    (cd "$1" && autoreconf -fi >&2) || die "$2: autoreconf failed (apt-get install autoconf automake libtool)"
    touch "$1/.ossc-autoreconf"
}

build_libxml2() {
    local src; src=$(fetch libxml2)
    built libxml2 "$src" && return
    say "libxml2: $(basename "$src")"
    # Debian's patches touch Makefile.am: regenerate, or make would try to.
    regenerate "$src" libxml2
    build_autotools libxml2 "$src" --without-python --without-zlib --without-lzma \
        --without-icu --without-http --without-ftp --without-catalog --without-docbook \
        --without-legacy --without-debug --without-modules --without-schematron \
        --without-xinclude --without-xptr --without-c14n --without-readline \
        --without-history --with-threads
    stamp libxml2 "$src"
}

build_jansson() {
    local src; src=$(fetch jansson)
    built jansson "$src" && return
    say "jansson: $(basename "$src")"
    regenerate "$src" jansson
    build_autotools jansson "$src"
    stamp jansson "$src"
}

build_libmicrohttpd() {
    local src; src=$(fetch libmicrohttpd)
    built libmicrohttpd "$src" && return
    say "libmicrohttpd: $(basename "$src")"
    # Debian's patch touches C only: the shipped configure is used.
    build_autotools libmicrohttpd "$src" --disable-https --without-gnutls --disable-doc \
        --disable-examples --disable-curl --disable-httpupgrade --disable-postprocessor
    stamp libmicrohttpd "$src"
}

build_hiredis() {  # a plain Makefile: compile the library's files ourselves
    local src; src=$(fetch hiredis)
    built hiredis "$src" && return
    say "hiredis: $(basename "$src")"
    local b="$CACHE/build/hiredis"; rm -rf "$b"; mkdir -p "$b"
    # Debian's CVE-2021-32765 patch made createArrayObject take a size_t but
    # left read.h's pointer type at int (clang rejects the mismatch): use
    # size_t in both, as hiredis 1.0 does.
    sed -i 's/void \*(\*createArray)(const redisReadTask\*, int);/void *(*createArray)(const redisReadTask*, size_t);/' \
        "$src/read.h"
    local f objs=()
    for f in net hiredis sds async read alloc; do  # dict.c: included by async.c
        "$CC" $CFLAGS -std=c99 -D_GNU_SOURCE -c "$src/$f.c" -o "$b/$f.o" || die "hiredis $f.c failed"
        objs+=("$b/$f.o")
    done
    rm -f "$PREFIX/lib/libhiredis.a"
    "$AR" rcs "$PREFIX/lib/libhiredis.a" "${objs[@]}"
    mkdir -p "$PREFIX/include/hiredis/adapters" "$PREFIX/lib/pkgconfig"
    cp "$src"/*.h "$PREFIX/include/hiredis/"
    local version
    version=$(sed -n 's/^#define HIREDIS_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' "$src/hiredis.h" | paste -sd.)
    cat > "$PREFIX/lib/pkgconfig/hiredis.pc" <<EOF
prefix=$PREFIX
Name: hiredis
Description: Minimalistic C client library for Redis (static, built for the wheel)
Version: $version
Libs: -L\${prefix}/lib -lhiredis
Cflags: -I\${prefix}/include -I\${prefix}/include/hiredis
EOF
    rm -rf "$b"
    stamp hiredis "$src"
}

build_openssl
build_curl
build_libxml2
build_jansson
build_hiredis
build_libmicrohttpd
say "done: $PREFIX"
echo "$PREFIX"
