#!/usr/bin/env bash
# End-to-end throughput of the job pipeline with a real model: a throw-away PostgreSQL, the embedded Kafka
# broker, W `ternflux worker` processes (started and registered — model loaded — before anything is submitted),
# one batch of J prompts, then images/s and the per-phase time shares read back from Postgres with the SQL
# below. Prints one JSON object on stdout; everything it starts is stopped on exit.
#   ops/bench/e2e.sh BIN MODEL JOBS WORKERS [STEPS] [SIZE] [MODE]
set -euo pipefail
BIN="$(realpath "$1")"; MODEL="$(realpath "$2")"; JOBS="$3"; WORKERS="$4"
STEPS="${5:-8}"; SIZE="${6:-128}"; MODE="${7:-int8}"
cd "$(dirname "$0")/../.."
STATE="$(mktemp -d /tmp/ternflux-e2e.XXXXXX)"
source ops/lib/local-postgres.sh

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pg_local_stop "$STATE/pg" >/dev/null 2>&1 || true
    rm -rf "$STATE"
}
trap cleanup EXIT

pg_local_start "$STATE/pg" >&2
"$BIN" dev-broker --partitions 4 >"$STATE/broker.out" 2>"$STATE/broker.log" &
pids+=($!)
for _ in $(seq 1 200); do grep -q '^bootstrap=' "$STATE/broker.out" 2>/dev/null && break; sleep 0.1; done
BOOTSTRAP="$(sed -n 's/^bootstrap=//p' "$STATE/broker.out" | head -n 1)"
[ -n "$BOOTSTRAP" ] || { echo "e2e: the broker did not start:" >&2; cat "$STATE/broker.log" >&2; exit 1; }
export TERNFLUX_DATABASE_URL="$PG_CONNINFO" TERNFLUX_KAFKA_BROKERS="$BOOTSTRAP" TERNFLUX_OUTPUT_DIR="$STATE/images"
export TERNFLUX_MODEL="$MODEL"
"$BIN" migrate up >&2
psql_q() { pg_as_owner "$PG_BIN/psql" "$PG_CONNINFO" -tAX -c "$1"; }

for i in $(seq 1 "$WORKERS"); do
    "$BIN" worker --worker-id "e2e-$i" --mode "$MODE" --log-level warning 2>"$STATE/worker-$i.log" &
    pids+=($!)
done
for _ in $(seq 1 600); do
    [ "$(psql_q "SELECT count(*) FROM workers WHERE stopped_at IS NULL")" = "$WORKERS" ] && break
    sleep 0.2
done
[ "$(psql_q "SELECT count(*) FROM workers WHERE stopped_at IS NULL")" = "$WORKERS" ] \
    || { echo "e2e: workers did not register:" >&2; tail -n 20 "$STATE"/worker-*.log >&2; exit 1; }

mapfile -t PROMPTS < ops/demo/prompts.jsonl
: >"$STATE/prompts.jsonl"
for i in $(seq 0 $((JOBS - 1))); do echo "${PROMPTS[$((i % ${#PROMPTS[@]}))]}" >>"$STATE/prompts.jsonl"; done
BATCH="$("$BIN" submit "$STATE/prompts.jsonl" --name "e2e-$WORKERS" --steps "$STEPS" --width "$SIZE" --height "$SIZE" --wait)"
LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"

# Throughput: succeeded images over first start → last finish (the batch_progress view's definition).
IPS="$(psql_q "SELECT images_per_second FROM batch_progress WHERE batch_id = '$BATCH'")"
SUCCEEDED="$(psql_q "SELECT succeeded FROM batch_progress WHERE batch_id = '$BATCH'")"
# Share of the workers' time per phase: sums over the batch's job_timings rows; 'other' is what total_ms holds
# beyond the named phases.
PHASES="$(psql_q "
SELECT json_build_object(
  'jobs', count(*),
  'tokenize_encode_ms', sum(t.tokenize_encode_ms), 'denoise_ms', sum(t.denoise_ms),
  'vae_decode_ms', sum(t.vae_decode_ms), 'png_encode_ms', sum(t.png_encode_ms), 'store_ms', sum(t.store_ms),
  'total_ms', sum(t.total_ms),
  'other_ms', sum(t.total_ms - t.tokenize_encode_ms - t.denoise_ms - t.vae_decode_ms - t.png_encode_ms - t.store_ms),
  'median_total_ms', percentile_cont(0.5) WITHIN GROUP (ORDER BY t.total_ms),
  'median_queue_wait_ms', percentile_cont(0.5) WITHIN GROUP (ORDER BY t.queue_wait_ms),
  'max_peak_rss_bytes', max(t.peak_rss_bytes))
FROM job_timings t JOIN jobs j ON j.id = t.job_id
WHERE j.batch_id = '$BATCH' AND j.state = 'succeeded'")"

printf '{"benchmark":"e2e","workers":%s,"jobs":%s,"succeeded":%s,"steps":%s,"size":%s,"mode":"%s","images_per_second":%s,"phases":%s,"load_average":[%s]}\n' \
    "$WORKERS" "$JOBS" "${SUCCEEDED:-0}" "$STEPS" "$SIZE" "$MODE" "${IPS:-null}" "$PHASES" "$(echo "$LOAD" | tr ' ' ',')"
