-- An idempotency key per batch: `ternflux submit --batch-key KEY` stores it, and submitting again with the same key
-- (after a submit that could not reach Kafka, or twice by mistake) finds the batch instead of making a second one.
-- submit_digest is the SHA-256 of what was submitted (the file and the flags that shape its jobs), so the same key
-- on different input is refused instead of silently answered with the first batch.
ALTER TABLE batches
    ADD COLUMN submit_key text CHECK (length(submit_key) BETWEEN 1 AND 200),
    ADD COLUMN submit_digest text CHECK (submit_digest ~ '^[0-9a-f]{64}$');

CREATE UNIQUE INDEX batches_submit_key ON batches (submit_key) WHERE submit_key IS NOT NULL;
