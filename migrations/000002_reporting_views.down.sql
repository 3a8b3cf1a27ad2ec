DROP VIEW IF EXISTS worker_activity;
DROP VIEW IF EXISTS batch_progress;
DROP VIEW IF EXISTS job_history;
