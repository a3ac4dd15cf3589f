-- The watchdog's reconciliation looks for uploads still waiting for their
-- object after the URL expired: index exactly those.
CREATE INDEX uploads_created_by_expiry ON uploads (url_expires_at) WHERE state = 'CREATED';
