-- Which stage run holds an upload in its working state, and until when
-- that run counts as alive (it renews the lease while it runs). A message
-- redelivered meanwhile (a rebalance moved its partition, the watchdog
-- re-drove it) waits for the lease instead of running the stage a second
-- time; a run whose process died is resumed once its lease lapses. NULL
-- for uploads that entered their working state before leases existed:
-- they are resumed at once, as before.
ALTER TABLE uploads ADD COLUMN lease_owner TEXT, ADD COLUMN lease_until TIMESTAMPTZ;
