#!/usr/bin/env bash
# Offline checks of the fleet files (docs/operations.md, "What was and was not run here"): the compose
# file, the Prometheus config and rules (with their unit tests), the Kubernetes manifests and the Grafana
# dashboard. Builds and runs nothing. Tools: docker compose v2 or docker-compose, promtool (Debian
# package prometheus), kubectl or kustomize, python3 with kubernetes-validate (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== docker/compose.yaml"
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    echo "fleet-validate: neither 'docker compose' nor docker-compose is installed" >&2
    exit 2
fi
"${compose[@]}" -f docker/compose.yaml --profile monitoring --profile tools config -q
echo "valid ($("${compose[@]}" --version | head -n 1))"

echo "== ops/prometheus"
command -v promtool >/dev/null || { echo "fleet-validate: promtool not found (apt-get install prometheus)" >&2; exit 2; }
promtool check config ops/prometheus/prometheus.yml
promtool check config ops/prometheus/prometheus-k8s.yml
promtool check rules ops/prometheus/alerts.yml
promtool test rules ops/prometheus/alerts_test.yml

echo "== ops/k8s"
bash ops/k8s/validate.sh

echo "== ops/grafana"
bash ops/grafana/validate.sh
echo "== metric names against docs/operations.md"
python3 ops/check-metric-contract.py
echo "fleet files: all checks passed"
