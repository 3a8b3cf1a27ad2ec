-- Per-job classifier-free guidance: a negative prompt and a true CFG scale, besides the embedded guidance.
-- Both may be left to the model (NULL until a worker claims the job; the claim writes the model's values
-- from its generation_defaults.json). A NULL negative prompt on a running or finished job means the model
-- has none, so no classifier-free guidance ran. Bounds are JobLimits (Sources/JobModel/JobLimits.swift);
-- StoredLimitsTests checks them at each edge.
ALTER TABLE jobs
    ADD COLUMN negative_prompt text,
    ADD COLUMN true_cfg_scale double precision,
    DROP CONSTRAINT jobs_parameters_within_limits;

ALTER TABLE jobs ADD CONSTRAINT jobs_parameters_within_limits CHECK (state = 'failed' OR (
    (width IS NULL OR (width BETWEEN 16 AND 2048 AND width % 16 = 0)) AND
    (height IS NULL OR (height BETWEEN 16 AND 2048 AND height % 16 = 0)) AND
    (steps IS NULL OR steps BETWEEN 1 AND 100) AND
    (guidance IS NULL OR guidance BETWEEN 0 AND 30) AND
    (negative_prompt IS NULL OR length(negative_prompt) <= 4096) AND
    (true_cfg_scale IS NULL OR true_cfg_scale BETWEEN 1 AND 50) AND
    seed >= 0 AND
    length(prompt) BETWEEN 1 AND 4096 AND
    length(model) BETWEEN 1 AND 128));

-- The new columns at the end of job_history (a view can only grow at its end in place; grants stay).
CREATE OR REPLACE VIEW job_history AS
SELECT j.id AS job_id,
       j.batch_id,
       b.name AS batch_name,
       j.line,
       j.state,
       j.attempt,
       j.max_attempts,
       j.prompt,
       j.seed,
       j.width,
       j.height,
       j.steps,
       j.guidance,
       j.model,
       j.worker_id,
       j.created_at,
       j.enqueued_at,
       j.started_at,
       j.finished_at,
       (extract(epoch FROM j.finished_at - coalesce(j.enqueued_at, j.created_at)) * 1000)::double precision AS latency_ms,
       jsonb_array_length(j.errors) AS error_count,
       j.errors -> -1 ->> 'message' AS last_error,
       j.errors,
       j.output_uri,
       j.sha256,
       j.bytes,
       t.queue_wait_ms,
       t.tokenize_encode_ms,
       t.denoise_ms,
       t.denoise_step_ms,
       t.vae_decode_ms,
       t.png_encode_ms,
       t.store_ms,
       t.total_ms,
       t.peak_rss_bytes,
       j.negative_prompt,
       j.true_cfg_scale
FROM jobs j
JOIN batches b ON b.id = j.batch_id
LEFT JOIN job_timings t ON t.job_id = j.id;
