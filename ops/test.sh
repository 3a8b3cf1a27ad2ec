#!/usr/bin/env bash
# The whole test suite: installs system packages, builds, and runs every test with real services
# (a throw-away PostgreSQL and the embedded Kafka broker are started by the tests themselves), then a
# bounded run of every libFuzzer target (TERNFLUX_FUZZ_SECONDS per target, default 20; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/install-system-deps.sh
# The embedded CUDA fatbin must be what kernels/cuda gives, with no register spills (no GPU needed).
bash ops/gpu/build-fatbin.sh --check
# The kernels on the host (no GPU needed; g++): the tiled GEMM's index arithmetic bit-exact against its
# reference, the norm kernels run through their real host entry points on an emulated libcuda bit for bit,
# the flash attention's tiling, fragments and online softmax within its tolerance.
bash ops/gpu/tiled_emulation/run.sh
bash ops/gpu/norms_emulation/run.sh
bash ops/gpu/attention_emulation/run.sh
# The device check's C harnesses (ops/gpu/*_check.c) must build here too, so a device session never finds them broken.
for harness in ops/gpu/*_check.c; do
    gcc -O2 -std=gnu11 -ffp-contract=off -pthread -Wall -Wno-unknown-pragmas -Werror -ISources/CCUDA/include -ISources/CTernaryKernels/include \
        "$harness" Sources/CCUDA/*.c Sources/CTernaryKernels/*.c -o /dev/null -ldl -lm
done
# Selenium and schemathesis (pinned in ops/web/requirements.txt) for the APIServerTests browser and API checks.
bash ops/web/setup.sh
swift build --build-tests
# The log is kept so that, when a test fails, the failing cases and their assertion messages are repeated
# at the very end of the output (CI shows only the tail).
test_log="$(mktemp /tmp/ternflux-tests.XXXXXX.log)"
if ! swift test --skip-build --disable-swift-testing 2>&1 | tee "$test_log"; then
    echo
    echo "=== failing tests (repeated from $test_log) ==="
    grep -E ": error: |' failed \(" "$test_log" | cut -c1-600 || true
    exit 1
fi
fuzz_seconds="${TERNFLUX_FUZZ_SECONDS:-20}"
if [[ "$fuzz_seconds" != 0 ]]; then
    FUZZ_JOBS="${FUZZ_JOBS:-2}" bash ops/fuzz/run "$fuzz_seconds"
fi
