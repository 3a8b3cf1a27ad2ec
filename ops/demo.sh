#!/usr/bin/env bash
# The main job on the embedded defaults, on one machine, from a fresh clone (Debian bookworm, root):
# installs packages, builds, starts a throw-away PostgreSQL and the embedded Kafka broker, migrates,
# submits a sample batch, runs two workers until it is done, prints the batch summary from SQL and
# where the images are, then stops everything it started.
#
#   bash ops/demo.sh --serve   then keeps PostgreSQL and the broker running and serves the HTTP API and the
#                              gallery (`ternflux serve`, docs/api.md) on the demo's database, broker and
#                              images until Ctrl-C, printing the gallery's URL; Ctrl-C stops everything.
#                              Port: TERNFLUX_SERVE_PORT (default 8080; 0 picks a free one).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVE=0
for arg in "$@"; do
    case "$arg" in
        --serve) SERVE=1 ;;
        *) echo "usage: bash ops/demo.sh [--serve]" >&2; exit 64 ;;
    esac
done
ROOT="$PWD"
STATE="$ROOT/.demo"

bash ops/install-system-deps.sh
echo "== building (release)"
swift build -c release --product ternflux 2>&1 | tail -n 3
BIN="$ROOT/.build/release/ternflux"

# Leftovers of an interrupted earlier run.
if [ -d "$STATE" ]; then
    source ops/lib/local-postgres.sh
    pg_local_stop "$STATE/pg"
    rm -rf "$STATE"
fi
mkdir -p "$STATE"
source ops/lib/local-postgres.sh

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pg_local_stop "$STATE/pg"
}
trap cleanup EXIT
# Ctrl-C or SIGTERM: exit, which runs the cleanup above (background jobs of a script ignore SIGINT themselves).
trap 'exit 130' INT TERM

echo "== starting PostgreSQL (throw-away, $STATE/pg)"
pg_local_start "$STATE/pg"

echo "== starting the embedded Kafka broker"
"$BIN" dev-broker --partitions 4 >"$STATE/broker.out" 2>"$STATE/broker.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^bootstrap=' "$STATE/broker.out" 2>/dev/null && break; sleep 0.1; done
BOOTSTRAP="$(sed -n 's/^bootstrap=//p' "$STATE/broker.out" | head -n 1)"
[ -n "$BOOTSTRAP" ] || { echo "the broker did not start:" >&2; cat "$STATE/broker.log" >&2; exit 1; }
echo "   bootstrap $BOOTSTRAP"

export TERNFLUX_DATABASE_URL="$PG_CONNINFO"
export TERNFLUX_KAFKA_BROKERS="$BOOTSTRAP"
export TERNFLUX_OUTPUT_DIR="$STATE/images"

echo "== migrating"
"$BIN" migrate up

if [ -f models/default/model_index.json ]; then
    MODEL="$ROOT/models/default"
else
    # Until the shipped model is committed: the tiny random FLUX-layout model made by the fixture script,
    # converted to ternary here. Its images are noise; the pipeline around it is the real one.
    echo "== no shipped model yet: using the tiny random fixture model (its images are noise)"
    "$BIN" quantize Tests/Fixtures/tiny-flux "$STATE/model" --format i2
    MODEL="$STATE/model"
fi
export TERNFLUX_MODEL="$MODEL"

echo "== starting two workers"
for i in 1 2; do
    "$BIN" worker --worker-id "demo-worker-$i" --log-level notice 2>"$STATE/worker-$i.log" &
    pids+=($!)
done

echo "== submitting ops/demo/prompts.jsonl"
BATCH="$("$BIN" submit ops/demo/prompts.jsonl --name demo --wait)"

echo "== stopping the workers (they finish their current job first)"
for pid in "${pids[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${pids[@]:1}"; do wait "$pid" || true; done
pids=("${pids[0]}")

echo "== batch summary"
"$BIN" status "$BATCH"
echo
echo "== from SQL (psql \"$PG_CONNINFO\")"
pg_as_owner "$PG_BIN/psql" "$PG_CONNINFO" -P pager=off -c \
    "SELECT total, succeeded, failed, round(p50_latency_ms) AS p50_ms, round(p95_latency_ms) AS p95_ms, round(images_per_second::numeric, 2) AS images_per_s FROM batch_progress WHERE batch_id = '$BATCH'" \
    -c "SELECT worker_id, jobs_done, jobs_failed FROM worker_activity ORDER BY worker_id"
echo "images: $STATE/images/$BATCH/"
ls "$STATE/images/$BATCH" | head -n 5

if [ "$SERVE" = 1 ]; then
    echo
    echo "== serving the API and the gallery (Ctrl-C stops the server, the broker and PostgreSQL)"
    "$BIN" serve --host 127.0.0.1 --port "${TERNFLUX_SERVE_PORT:-8080}" --log-level notice >"$STATE/serve.out" 2>"$STATE/serve.log" &
    serve_pid=$!
    pids+=("$serve_pid")
    for _ in $(seq 1 300); do
        grep -q 'gallery and API at' "$STATE/serve.out" 2>/dev/null && break
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
    done
    URL="$(sed -n 's/.*gallery and API at \(http[^ ]*\).*/\1/p' "$STATE/serve.out" | head -n 1)"
    [ -n "$URL" ] || { echo "ternflux serve did not start:" >&2; cat "$STATE/serve.log" >&2; exit 1; }
    echo "   gallery:  $URL#/batches/$BATCH"
    echo "   batches:  curl -s ${URL}v1/batches"
    echo "   progress: curl -s ${URL}v1/batches/$BATCH"
    echo "   log:      $STATE/serve.log"
    wait "$serve_pid"
fi
