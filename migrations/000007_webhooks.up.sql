-- Completion webhooks: a batch may name a webhook_url; when its last job reaches a terminal state
-- (succeeded, failed, canceled), one delivery is queued for it, and a worker POSTs the batch summary there,
-- signed, retried with backoff until a 2xx or its attempts run out. Every attempt is recorded.
ALTER TABLE batches ADD COLUMN webhook_url text
    CHECK (length(webhook_url) BETWEEN 1 AND 2048 AND webhook_url ~ '^https?://[^/?#]+');

-- One row per batch that finished with a webhook: the delivery id (X-TernFlux-Delivery, for receivers to
-- drop a repeat), its state, the lease a sending worker holds (so two workers never send it at once), when it
-- is due next, and how it went.
CREATE TABLE webhook_deliveries (
    batch_id        uuid PRIMARY KEY REFERENCES batches (id) ON DELETE CASCADE,
    delivery_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    url             text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_by       text,
    leased_until    timestamptz,
    delivered_at    timestamptz,
    last_status     integer,
    last_error      text
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

-- Every attempt: who sent it, when, the HTTP status (NULL: no answer) or the error, how long it took.
CREATE TABLE webhook_attempts (
    batch_id    uuid NOT NULL REFERENCES webhook_deliveries (batch_id) ON DELETE CASCADE,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    worker_id   text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    error       text,
    duration_ms double precision NOT NULL,
    PRIMARY KEY (batch_id, attempt)
);

-- Queues the delivery of every batch with a webhook that this statement finished. Statement-level, so
-- canceling a batch of 100 000 jobs checks the batch once. The batch row is locked before its jobs are
-- counted: two workers finishing a batch's last two jobs at once are serialised here, and the second sees
-- the first's job finished (each statement of the function reads what was committed before it began), so
-- exactly one of them queues the delivery (and ON CONFLICT keeps it at one whatever else happens).
CREATE FUNCTION ternflux_queue_batch_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    finished record;
BEGIN
    FOR finished IN
        SELECT DISTINCT b.id, b.webhook_url
        FROM changed_jobs c JOIN batches b ON b.id = c.batch_id
        WHERE b.webhook_url IS NOT NULL AND c.state IN ('succeeded', 'failed', 'canceled')
        ORDER BY b.id
    LOOP
        PERFORM 1 FROM batches WHERE id = finished.id FOR UPDATE;
        IF NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = finished.id AND state IN ('queued', 'running')) THEN
            INSERT INTO webhook_deliveries (batch_id, url) VALUES (finished.id, finished.webhook_url)
            ON CONFLICT (batch_id) DO NOTHING;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_queue_webhooks_on_update AFTER UPDATE ON jobs REFERENCING NEW TABLE AS changed_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION ternflux_queue_batch_webhooks();
CREATE TRIGGER jobs_queue_webhooks_on_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS changed_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION ternflux_queue_batch_webhooks();

-- Workers send deliveries and record attempts; analysts may read how deliveries went, but not the URLs
-- (a URL may carry a receiver's token).
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries, webhook_attempts TO ternflux_worker;
GRANT SELECT (batch_id, delivery_id, state, attempts, created_at, next_attempt_at, delivered_at, last_status, last_error)
    ON webhook_deliveries TO ternflux_reader;
GRANT SELECT ON webhook_attempts TO ternflux_reader;
