#!/usr/bin/env bash
# Installs the Debian packages TernFlux builds, tests and runs with. Idempotent; needs root (apt-get).
set -euo pipefail
# prometheus: only for its promtool (the metrics-endpoint test runs `promtool check metrics`).
# python3-pil: Pillow, the independent reader the PNG-metadata tests check our text chunks with.
# chromium, chromium-driver: the real browser the gallery test drives (ops/web/browser_check.py, Selenium);
# python3-venv: the venv ops/web/setup.sh installs Selenium and schemathesis into.
# g++: the host emulation of the tiled CUDA GEMM (ops/gpu/tiled_emulation).
packages=(librdkafka-dev libpq-dev libopenblas-dev zlib1g-dev postgresql kcat prometheus python3-pil
          chromium chromium-driver python3-venv g++)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster of its own on some machines; tests use their own.
command -v swift >/dev/null || { echo "swift is not on PATH (expected Swift 6.x, e.g. /opt/swift/usr/bin)" >&2; exit 1; }
