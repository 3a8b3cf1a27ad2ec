#!/usr/bin/env bash
# The whole test suite: installs system packages, builds, and runs every test with real services
# (a throw-away PostgreSQL and the embedded Kafka broker are started by the tests themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/install-system-deps.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing
