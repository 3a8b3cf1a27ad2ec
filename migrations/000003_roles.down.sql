REVOKE ALL ON job_history, batch_progress, worker_activity FROM ternflux_reader;
REVOKE ALL ON batches, jobs, job_timings, workers, job_history, batch_progress, worker_activity, schema_migrations FROM ternflux_worker;

DO $$
BEGIN
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM ternflux_reader, ternflux_worker', current_schema());
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM ternflux_reader, ternflux_worker', current_database());
END
$$;

-- The roles are dropped only when no other database still grants them anything.
DO $$
BEGIN
    DROP ROLE IF EXISTS ternflux_reader;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE NOTICE 'ternflux_reader is still used by another database; kept';
END
$$;

DO $$
BEGIN
    DROP ROLE IF EXISTS ternflux_worker;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE NOTICE 'ternflux_worker is still used by another database; kept';
END
$$;
