-- Back to one guidance per model: the per-job negative prompt and CFG scale are dropped (the views first).
DROP VIEW job_history;
CREATE VIEW job_history AS
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
       t.peak_rss_bytes
FROM jobs j
JOIN batches b ON b.id = j.batch_id
LEFT JOIN job_timings t ON t.job_id = j.id;
GRANT SELECT ON job_history TO ternflux_reader, ternflux_worker;

ALTER TABLE jobs DROP CONSTRAINT jobs_parameters_within_limits;
ALTER TABLE jobs DROP COLUMN negative_prompt, DROP COLUMN true_cfg_scale;
ALTER TABLE jobs ADD CONSTRAINT jobs_parameters_within_limits CHECK (state = 'failed' OR (
    (width IS NULL OR (width BETWEEN 16 AND 2048 AND width % 16 = 0)) AND
    (height IS NULL OR (height BETWEEN 16 AND 2048 AND height % 16 = 0)) AND
    (steps IS NULL OR steps BETWEEN 1 AND 100) AND
    (guidance IS NULL OR guidance BETWEEN 0 AND 30) AND
    seed >= 0 AND
    length(prompt) BETWEEN 1 AND 4096 AND
    length(model) BETWEEN 1 AND 128));
