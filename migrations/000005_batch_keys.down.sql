DROP INDEX IF EXISTS batches_submit_key;
ALTER TABLE batches DROP COLUMN IF EXISTS submit_digest, DROP COLUMN IF EXISTS submit_key;
