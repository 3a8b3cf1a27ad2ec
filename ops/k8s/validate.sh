#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests: renders the base and every overlay with kustomize,
# checks every built-in resource against the Kubernetes OpenAPI schema (kubernetes-validate --strict:
# unknown fields are errors), and the fleet invariants plus the KEDA ScaledObject's structure with
# check_manifests.py. With KEDA_CRD=/path/to/keda.sh_scaledobjects.yaml (config/crd/bases/ of the KEDA
# release you deploy) the ScaledObject is also validated against KEDA's own schema; without it, its
# structure is checked by check_manifests.py only.
#
# Needs: kubectl (for `kubectl kustomize`; or a standalone kustomize), python3 with
# kubernetes-validate (pip install kubernetes-validate, which brings PyYAML and jsonschema).
set -euo pipefail
cd "$(dirname "$0")"

if command -v kubectl >/dev/null; then
    render() { kubectl kustomize "$1"; }
elif command -v kustomize >/dev/null; then
    render() { kustomize build "$1"; }
else
    echo "validate.sh: neither kubectl nor kustomize is on PATH (needed to render ops/k8s)" >&2
    exit 2
fi
command -v kubernetes-validate >/dev/null || {
    echo "validate.sh: kubernetes-validate is not installed (pip install kubernetes-validate)" >&2
    exit 2
}
K8S_VERSION="${K8S_VERSION:-1.30}"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
crd_args=()
if [[ -n "${KEDA_CRD:-}" ]]; then
    [[ -r "$KEDA_CRD" ]] || { echo "validate.sh: KEDA_CRD=$KEDA_CRD is not a readable file" >&2; exit 2; }
    crd_args=(--keda-crd "$KEDA_CRD")
fi

status=0
for dir in base overlays/*/; do
    dir="${dir%/}"
    file="$out/$(echo "$dir" | tr / _).yaml"
    echo "== $dir"
    render "$dir" > "$file"
    # --strict rejects unknown fields; the ScaledObject has no built-in schema and is reported as a warning.
    kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$file" || status=1
    python3 check_manifests.py "$file" "${crd_args[@]}" || status=1
done
if ((status == 0)); then echo "ops/k8s: all manifests valid"; else echo "ops/k8s: INVALID" >&2; fi
exit $status
