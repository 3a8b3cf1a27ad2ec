#!/usr/bin/env python3
"""Every ternflux_* metric used by the alert rules, their tests, the dashboard or the Kubernetes/compose
files must be declared in the contract table of docs/operations.md ("Metrics contract"), with histogram
series (_bucket, _sum, _count) mapped to their histogram. Exit 1 naming each undeclared metric and file."""
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
doc = (root / "docs/operations.md").read_text()
section = doc.split("## Metrics contract", 1)
if len(section) != 2:
    sys.exit("docs/operations.md: no '## Metrics contract' section")
table = section[1].split("\n## ", 1)[0]
declared = {}
for line in table.splitlines():
    m = re.match(r"\| `(ternflux_[a-z0-9_]+)` \| (counter|gauge|histogram|gauge \(always 1\)) \|", line)
    if m:
        declared[m.group(1)] = m.group(2)
if not declared:
    sys.exit("docs/operations.md: the metrics contract table declares no ternflux_* metric")

def base(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and declared.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return name

users = ["ops/prometheus/alerts.yml", "ops/prometheus/alerts_test.yml", "ops/grafana/ternflux.json"]
problems, used = [], set()
for rel in users:
    text = (root / rel).read_text()
    for name in sorted(set(re.findall(r"\bternflux_[a-z0-9_]+", text))):
        if name in ("ternflux_reader", "ternflux_worker"):  # database roles, not metrics
            continue
        b = base(name)
        used.add(b)
        if b not in declared:
            problems.append(f"{rel}: {name} is not declared in docs/operations.md's metrics contract")
for p in problems:
    print(p)
unused = sorted(set(declared) - used)
print(f"metric contract: {len(declared)} declared, {len(used)} used by rules/dashboard"
      + (f"; declared but unused: {', '.join(unused)}" if unused else ""))
sys.exit(1 if problems else 0)
