#!/usr/bin/env bash
# The whole test suite: installs system packages, builds, and runs every test with real services
# (a throw-away PostgreSQL and the embedded Kafka broker are started by the tests themselves), then a
# bounded run of every libFuzzer target (TERNFLUX_FUZZ_SECONDS per target, default 20; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/install-system-deps.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing
fuzz_seconds="${TERNFLUX_FUZZ_SECONDS:-20}"
if [[ "$fuzz_seconds" != 0 ]]; then
    FUZZ_JOBS="${FUZZ_JOBS:-2}" bash ops/fuzz/run "$fuzz_seconds"
fi
