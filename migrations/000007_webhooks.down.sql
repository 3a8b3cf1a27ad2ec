-- No more completion webhooks: deliveries, their attempts and the batches' URLs are dropped.
DROP TRIGGER jobs_queue_webhooks_on_insert ON jobs;
DROP TRIGGER jobs_queue_webhooks_on_update ON jobs;
DROP FUNCTION ternflux_queue_batch_webhooks();
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
ALTER TABLE batches DROP COLUMN webhook_url;
