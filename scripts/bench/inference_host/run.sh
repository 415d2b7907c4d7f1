#!/usr/bin/env bash
# run.sh: the model-load benchmark on an inference host, from a bundle that
# build_bundle.sh wrote (this file's folder).  Needs only python3 with torch
# (and numpy; safetensors comes with the bundle if the host has none); no
# compiler, no network.  Generates a sharded safetensors model (SIZE_GIB,
# SHARDS bf16 shards), serves it with localbucket + the project's OSS adapter
# on 127.0.0.1, and loads it ROUNDS times every way (host_bench.py: the rows
# and columns).  Writes $OUT/summary.txt (the table), $OUT/result.json and
# $OUT/run.log.
#
#   SIZE_GIB=16 ROUNDS=3 bash BUNDLE/run.sh
#   PROCS=8 ...        every loader row: 8 processes at once, each loading ALL shards
#   PYTHON=/opt/venv/bin/python3 ...   the Python with torch (default python3)
#   NO_CUDA=1 ...      CPU rows only even when a GPU is there
#   BUDGET_S=420       no round starts after this many seconds (the first always runs)
#   OUT=/tmp/host-bench-out WORK=/tmp/host-bench-work   results / scratch (model, logs)
# Exit status: 0 when every run was checked and correct, 1 otherwise.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/host-bench-out}
WORK=${WORK:-/tmp/host-bench-work}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
echo "run.sh: SIZE_GIB=${SIZE_GIB:-16} SHARDS=${SHARDS:-8} ROUNDS=${ROUNDS:-3} PROCS=${PROCS:-1} PY=$PY OUT=$OUT WORK=$WORK"
cat "$HERE/BUNDLE.txt" 2>/dev/null
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
    echo "run.sh: $PY cannot import torch and numpy (set PYTHON=...)" >&2
    exit 2
fi
FALLBACK=""
"$PY" -c "import safetensors" 2>/dev/null || FALLBACK="$HERE/site-fallback"
rm -rf "$WORK"
mkdir -p "$WORK/rt/lib"
cp "$HERE/rt/libossc_preload.so" "$HERE/rt/curl" "$WORK/rt/"
"$PY" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
    "$HERE/rt/lib.tar.xz" "$WORK/rt/lib" || exit 2
if ldd "$WORK/rt/libossc_preload.so" | grep -q "not found"; then
    echo "run.sh: libraries of libossc_preload.so not found:" >&2
    ldd "$WORK/rt/libossc_preload.so" | grep "not found" >&2
    exit 2
fi
NOCUDA=""
[ -n "${NO_CUDA:-}" ] && NOCUDA=--no-cuda
"$PY" "$HERE/host_bench.py" --size-gib "${SIZE_GIB:-16}" --shards "${SHARDS:-8}" \
    --rounds "${ROUNDS:-3}" --procs "${PROCS:-1}" --budget "${BUDGET_S:-420}" \
    --out "$OUT" --work "$WORK" --rt "$WORK/rt" --curl "$WORK/rt/curl" --site "$HERE/site" \
    --site-fallback "$FALLBACK" --python "$PY" $NOCUDA
RC=$?
[ -f "$WORK/connector.log" ] && tail -c 2000000 "$WORK/connector.log" > "$OUT/connector.log"
rm -rf "$WORK/data" "$WORK/md"
echo "================ $OUT/summary.txt"
cat "$OUT/summary.txt" 2>/dev/null
exit $RC
