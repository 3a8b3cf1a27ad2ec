-- Read-only views for analysts (the ternflux_reader role sees only these) and for `ternflux status/history`.

-- One row per job with its timings and last error. latency_ms is end to end: from enqueue (or creation,
-- when never marked enqueued) to finish.
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

-- One row per batch: counts by state, latency percentiles of its succeeded jobs, and throughput
-- (succeeded images per second between the first start and the last finish).
CREATE VIEW batch_progress AS
SELECT b.id AS batch_id,
       b.name,
       b.created_at,
       b.canceled_at,
       count(j.id) AS total,
       count(j.id) FILTER (WHERE j.state = 'queued') AS queued,
       count(j.id) FILTER (WHERE j.state = 'running') AS running,
       count(j.id) FILTER (WHERE j.state = 'succeeded') AS succeeded,
       count(j.id) FILTER (WHERE j.state = 'failed') AS failed,
       count(j.id) FILTER (WHERE j.state = 'canceled') AS canceled,
       count(j.id) FILTER (WHERE j.state IN ('queued', 'running')) = 0 AS finished,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - coalesce(j.enqueued_at, j.created_at))::double precision * 1000)
           FILTER (WHERE j.state = 'succeeded') AS p50_latency_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - coalesce(j.enqueued_at, j.created_at))::double precision * 1000)
           FILTER (WHERE j.state = 'succeeded') AS p95_latency_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.total_ms) FILTER (WHERE j.state = 'succeeded') AS p50_generation_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY t.total_ms) FILTER (WHERE j.state = 'succeeded') AS p95_generation_ms,
       min(j.started_at) AS first_started_at,
       max(j.finished_at) AS last_finished_at,
       CASE WHEN count(j.id) FILTER (WHERE j.state = 'succeeded') > 0
                 AND max(j.finished_at) FILTER (WHERE j.state = 'succeeded') > min(j.started_at)
            THEN count(j.id) FILTER (WHERE j.state = 'succeeded')
                 / extract(epoch FROM max(j.finished_at) FILTER (WHERE j.state = 'succeeded') - min(j.started_at))::double precision
       END AS images_per_second
FROM batches b
LEFT JOIN jobs j ON j.batch_id = b.id
LEFT JOIN job_timings t ON t.job_id = j.id
GROUP BY b.id;

-- One row per worker process: liveness (a heartbeat in the last 60 s and not stopped), counters,
-- what it is running now, generation time and throughput over its lifetime.
CREATE VIEW worker_activity AS
SELECT w.id AS worker_id,
       w.host,
       w.pid,
       w.model,
       w.version,
       w.started_at,
       w.last_heartbeat_at,
       w.stopped_at,
       (w.stopped_at IS NULL AND w.last_heartbeat_at > now() - interval '60 seconds') AS alive,
       w.jobs_done,
       w.jobs_failed,
       (SELECT count(*) FROM jobs j WHERE j.worker_id = w.id AND j.state = 'running') AS running_now,
       s.mean_total_ms,
       s.p95_total_ms,
       CASE WHEN coalesce(w.stopped_at, w.last_heartbeat_at) > w.started_at
            THEN w.jobs_done / extract(epoch FROM coalesce(w.stopped_at, w.last_heartbeat_at) - w.started_at)::double precision
       END AS images_per_second
FROM workers w
LEFT JOIN LATERAL (
    SELECT avg(t.total_ms) AS mean_total_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY t.total_ms) AS p95_total_ms
    FROM job_timings t
    WHERE t.worker_id = w.id
) s ON true;
