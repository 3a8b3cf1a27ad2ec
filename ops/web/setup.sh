#!/usr/bin/env bash
# The Python side of the web tests: a venv in .build-web/venv (ignored by git) made from Debian's
# /usr/bin/python3 (python3-venv), with ops/web/requirements.txt installed. Idempotent: the packages are
# installed again only when requirements.txt changes. The APIServerTests browser and schemathesis tests
# run this venv's python; chromium and chromedriver come from ops/install-system-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.build-web/venv
stamp="$venv/.requirements.sha256"
want="$(sha256sum ops/web/requirements.txt | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python3" ]; then
    /usr/bin/python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/python3" -m pip install -q --disable-pip-version-check -r ops/web/requirements.txt
    echo "$want" > "$stamp"
fi
