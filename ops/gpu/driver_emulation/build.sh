#!/usr/bin/env bash
# Builds the stand-in libcuda.so.1 (fake_libcuda.c: the driver API over host memory, the W2A8 kernels run as
# their CPU reference) into DIR (default .build-fake-cuda). Point TERNFLUX_CUDA_DRIVER at DIR/libcuda.so.1 to
# run TernFlux's CUDA host path, layers and commands on a machine without a GPU (CUDAHostPathTests do).
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir="${1:-.build-fake-cuda}"
mkdir -p "$dir"
cc -O2 -std=gnu11 -ffp-contract=off -shared -fPIC -pthread -Wall -Wno-unknown-pragmas -Werror -ISources/CCUDA/include \
    ops/gpu/driver_emulation/fake_libcuda.c Sources/CCUDA/w2a8_reference.c -o "$dir/libcuda.so.1.tmp"
mv "$dir/libcuda.so.1.tmp" "$dir/libcuda.so.1"
echo "$dir/libcuda.so.1"
