-- Least-privilege roles. Roles belong to the whole cluster, so they are created only when missing
-- (several databases, or a re-run, may already have them). Both are NOLOGIN groups: grant them to
-- login roles (see docs/sql.md).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ternflux_reader') THEN
        CREATE ROLE ternflux_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created concurrently by a migration of another database
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ternflux_worker') THEN
        CREATE ROLE ternflux_worker NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO ternflux_reader, ternflux_worker', current_database());
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO ternflux_reader, ternflux_worker', current_schema());
END
$$;

-- Analysts: the views only. The views run with their owner's rights, so no table grant is needed.
GRANT SELECT ON job_history, batch_progress, worker_activity TO ternflux_reader;

-- Workers: read and write jobs, results, timings and their own registration; no DELETE, TRUNCATE or DDL.
-- INSERT on batches and jobs lets a worker record a job that an independent producer put on the topic.
GRANT SELECT, INSERT, UPDATE ON batches, jobs, job_timings, workers TO ternflux_worker;
GRANT SELECT ON job_history, batch_progress, worker_activity, schema_migrations TO ternflux_worker;
