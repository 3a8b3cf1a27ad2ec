-- Back to settings that are always stored: jobs still waiting with a setting left to the model get the
-- FLUX.1 defaults TernFlux uses without a generation_defaults.json (512x512, 28 steps, guidance 3.5).
ALTER TABLE jobs DROP CONSTRAINT jobs_started_has_settings, DROP CONSTRAINT jobs_parameters_within_limits;
UPDATE jobs SET width = coalesce(width, 512), height = coalesce(height, 512), steps = coalesce(steps, 28),
                guidance = coalesce(guidance, 3.5)
WHERE width IS NULL OR height IS NULL OR steps IS NULL OR guidance IS NULL;
ALTER TABLE jobs
    ALTER COLUMN width SET NOT NULL,
    ALTER COLUMN height SET NOT NULL,
    ALTER COLUMN steps SET NOT NULL,
    ALTER COLUMN guidance SET NOT NULL;
ALTER TABLE jobs ADD CONSTRAINT jobs_parameters_within_limits CHECK (state = 'failed' OR (
    width  BETWEEN 16 AND 2048 AND width  % 16 = 0 AND
    height BETWEEN 16 AND 2048 AND height % 16 = 0 AND
    steps  BETWEEN 1 AND 200 AND
    guidance BETWEEN 0 AND 50 AND
    length(prompt) BETWEEN 1 AND 10000 AND
    length(model)  BETWEEN 1 AND 200));
