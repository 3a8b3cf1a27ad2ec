-- Batches, jobs, per-phase timings and workers: the job store behind `ternflux submit` and `ternflux worker`.

CREATE TYPE job_state AS ENUM ('queued', 'running', 'succeeded', 'failed', 'canceled');

CREATE TABLE batches (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    source       text        CHECK (length(source) <= 4096),
    job_count    integer     NOT NULL CHECK (job_count >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    canceled_at  timestamptz,
    submitted_by text        NOT NULL DEFAULT current_user
);

CREATE TABLE jobs (
    id           uuid             PRIMARY KEY,
    batch_id     uuid             NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    line         integer          CHECK (line >= 1),
    state        job_state        NOT NULL DEFAULT 'queued',
    attempt      integer          NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts integer          NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    prompt       text             NOT NULL,
    seed         bigint           NOT NULL,
    width        integer          NOT NULL,
    height       integer          NOT NULL,
    steps        integer          NOT NULL,
    guidance     double precision NOT NULL,
    model        text             NOT NULL,
    worker_id    text,
    created_at   timestamptz      NOT NULL DEFAULT now(),
    enqueued_at  timestamptz,
    started_at   timestamptz,
    finished_at  timestamptz,
    -- One object per failed attempt, oldest first: {"attempt", "at", "worker_id", "message", "terminal"}.
    errors       jsonb            NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
    output_uri   text,
    sha256       text             CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes        bigint           CHECK (bytes >= 0),

    -- Every job that can still run or has run holds parameters within the limits (StoredJobLimits in
    -- Sources/JobStore mirrors them). A job rejected for bad parameters is kept, failed, as it was received.
    CONSTRAINT jobs_parameters_within_limits CHECK (state = 'failed' OR (
        width  BETWEEN 16 AND 2048 AND width  % 16 = 0 AND
        height BETWEEN 16 AND 2048 AND height % 16 = 0 AND
        steps  BETWEEN 1 AND 200 AND
        guidance BETWEEN 0 AND 50 AND
        length(prompt) BETWEEN 1 AND 10000 AND
        length(model)  BETWEEN 1 AND 200)),
    CONSTRAINT jobs_finished_iff_terminal CHECK ((state IN ('succeeded', 'failed', 'canceled')) = (finished_at IS NOT NULL)),
    CONSTRAINT jobs_running_has_worker CHECK (state <> 'running' OR (started_at IS NOT NULL AND worker_id IS NOT NULL)),
    CONSTRAINT jobs_succeeded_has_output CHECK (state <> 'succeeded' OR (output_uri IS NOT NULL AND sha256 IS NOT NULL AND bytes IS NOT NULL))
);

CREATE TABLE job_timings (
    job_id             uuid             PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    attempt            integer          NOT NULL CHECK (attempt >= 1),
    worker_id          text             NOT NULL,
    -- From enqueue (or creation, when never marked enqueued) to the start of the successful attempt.
    queue_wait_ms      double precision NOT NULL CHECK (queue_wait_ms >= 0),
    tokenize_encode_ms double precision NOT NULL CHECK (tokenize_encode_ms >= 0),
    denoise_ms         double precision NOT NULL CHECK (denoise_ms >= 0),
    denoise_step_ms    double precision[] NOT NULL DEFAULT '{}',
    vae_decode_ms      double precision NOT NULL CHECK (vae_decode_ms >= 0),
    png_encode_ms      double precision NOT NULL CHECK (png_encode_ms >= 0),
    store_ms           double precision NOT NULL CHECK (store_ms >= 0),
    total_ms           double precision NOT NULL CHECK (total_ms >= 0),
    peak_rss_bytes     bigint           NOT NULL CHECK (peak_rss_bytes >= 0),
    recorded_at        timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE workers (
    id                text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    host              text        NOT NULL,
    pid               integer     NOT NULL CHECK (pid > 0),
    model             text        NOT NULL,
    version           text        NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at        timestamptz,
    jobs_done         bigint      NOT NULL DEFAULT 0 CHECK (jobs_done >= 0),
    jobs_failed       bigint      NOT NULL DEFAULT 0 CHECK (jobs_failed >= 0)
);

-- Batch progress and cancel: the counts by state of one batch.
CREATE INDEX jobs_batch_state_idx ON jobs (batch_id, state);
-- Work that is not finished yet, across batches (small once batches drain).
CREATE INDEX jobs_unfinished_idx ON jobs (state, created_at) WHERE state IN ('queued', 'running');
-- (`ternflux requeue` finds queued jobs never produced through jobs_unfinished_idx; no index mentions
-- enqueued_at, so marking 100 000 jobs enqueued updates no index entry it does not have to.)
-- History by time and by worker.
CREATE INDEX jobs_created_at_idx ON jobs (created_at);
CREATE INDEX jobs_finished_at_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_worker_finished_idx ON jobs (worker_id, finished_at) WHERE worker_id IS NOT NULL;
CREATE INDEX job_timings_worker_idx ON job_timings (worker_id);
CREATE INDEX batches_created_at_idx ON batches (created_at);
