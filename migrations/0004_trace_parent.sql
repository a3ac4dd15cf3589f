-- The span that created an upload (its `traceparent`), so later work on
-- the upload (the object-created event, a watchdog re-drive) continues
-- the same trace under a parent that exists. NULL for uploads created
-- before traces were exported: they continue by trace id alone.
ALTER TABLE uploads ADD COLUMN trace_parent TEXT;
