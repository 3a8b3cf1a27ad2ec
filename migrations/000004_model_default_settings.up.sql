-- A job may leave width, height, steps and guidance to the model: they stay NULL until a worker claims the
-- job, and the claim writes the values of the worker's model (its generation_defaults.json), so a job that
-- runs or ran always says what it was generated with.
--
-- The bounds below are JobLimits (Sources/JobModel/JobLimits.swift), the one source of every bound;
-- JobStoreTests/StoredLimitsTests checks these constraints against it at each edge.
ALTER TABLE jobs
    ALTER COLUMN width DROP NOT NULL,
    ALTER COLUMN height DROP NOT NULL,
    ALTER COLUMN steps DROP NOT NULL,
    ALTER COLUMN guidance DROP NOT NULL,
    DROP CONSTRAINT jobs_parameters_within_limits;

-- A job rejected for bad parameters is kept, failed, as it was received; every other job is within bounds.
ALTER TABLE jobs ADD CONSTRAINT jobs_parameters_within_limits CHECK (state = 'failed' OR (
    (width IS NULL OR (width BETWEEN 16 AND 2048 AND width % 16 = 0)) AND
    (height IS NULL OR (height BETWEEN 16 AND 2048 AND height % 16 = 0)) AND
    (steps IS NULL OR steps BETWEEN 1 AND 100) AND
    (guidance IS NULL OR guidance BETWEEN 0 AND 30) AND
    seed >= 0 AND
    length(prompt) BETWEEN 1 AND 4096 AND
    length(model) BETWEEN 1 AND 128));

ALTER TABLE jobs ADD CONSTRAINT jobs_started_has_settings CHECK (state NOT IN ('running', 'succeeded') OR (
    width IS NOT NULL AND height IS NOT NULL AND steps IS NOT NULL AND guidance IS NOT NULL));
