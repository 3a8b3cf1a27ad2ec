#!/usr/bin/env bash
# Checks ops/grafana/ternflux.json: valid JSON, unique panel ids, every panel on the provisioned data
# source variable, and every PromQL expression parsed by promtool (Grafana's variables substituted).
# Needs python3 and promtool (Debian package prometheus).
set -euo pipefail
cd "$(dirname "$0")"
command -v promtool >/dev/null || { echo "validate.sh: promtool not found (apt-get install prometheus)" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/exprs.yml" <<'PY'
import json, sys
d = json.load(open("ternflux.json"))
problems, exprs, ids = [], [], set()
for p in d["panels"]:
    if p["id"] in ids:
        problems.append(f"panel id {p['id']} used twice")
    ids.add(p["id"])
    if p["type"] == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"panel {p['title']!r}: datasource is not the $datasource variable")
    if not p.get("targets"):
        problems.append(f"panel {p['title']!r}: no queries")
    for t in p.get("targets", []):
        e = t["expr"].replace("$__rate_interval", "5m").replace("$instance", ".*")
        if "$" in e.replace("{{", ""):
            problems.append(f"panel {p['title']!r}: unknown variable in {t['expr']!r}")
        exprs.append((p["title"], t["refId"], e))
for p in problems:
    print("ternflux.json:", p, file=sys.stderr)
if problems:
    sys.exit(1)
# One recording rule per expression: `promtool check rules` parses each with the Prometheus parser.
with open(sys.argv[1], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (title, ref, e) in enumerate(exprs):
        f.write(f"      - record: dashboard:expr_{i}\n        expr: {json.dumps(e)}\n")
print(f"ternflux.json: {len(d['panels'])} panels, {len(exprs)} queries")
PY
promtool check rules "$tmp/exprs.yml" >/dev/null
echo "ops/grafana: every dashboard query parses"
