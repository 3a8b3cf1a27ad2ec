#!/bin/sh
# Creates ternflux.jobs with $PARTITIONS partitions and ternflux.jobs.dlq, idempotently; grows the job
# topic when $PARTITIONS is larger than its current count. Run by the compose service kafka-init.
set -eu
bootstrap="${BOOTSTRAP:-kafka:9092}"
partitions="${PARTITIONS:-12}"
topics="${KAFKA_TOPICS_SH:-/opt/kafka/bin/kafka-topics.sh}"

for topic in ternflux.jobs ternflux.jobs.dlq; do
    "$topics" --bootstrap-server "$bootstrap" --create --if-not-exists \
        --topic "$topic" --partitions "$partitions" --replication-factor 1
done

current=$("$topics" --bootstrap-server "$bootstrap" --describe --topic ternflux.jobs \
    | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
if [ -z "$current" ]; then
    echo "kafka-init: could not read the partition count of ternflux.jobs" >&2
    exit 1
fi
if [ "$current" -lt "$partitions" ]; then
    "$topics" --bootstrap-server "$bootstrap" --alter --topic ternflux.jobs --partitions "$partitions"
    echo "kafka-init: ternflux.jobs grown from $current to $partitions partitions"
elif [ "$current" -gt "$partitions" ]; then
    echo "kafka-init: ternflux.jobs has $current partitions (more than the $partitions asked; partitions are never removed)"
fi
"$topics" --bootstrap-server "$bootstrap" --describe --topic ternflux.jobs | head -n 1
