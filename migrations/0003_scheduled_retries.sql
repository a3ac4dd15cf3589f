-- Retries that never hold a consumer: a retry is an outbox message that the
-- relay produces only once its backoff has elapsed. It is durable like any
-- outbox row, so a crash during the backoff loses nothing.
ALTER TABLE outbox ADD COLUMN available_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX outbox_by_availability ON outbox (available_at, id);

-- The stage an upload in RETRYING is retrying. Only that stage's message may
-- move it on, so a stale message of another stage can never resume it.
ALTER TABLE uploads ADD COLUMN retry_stage text
    CHECK (retry_stage IN ('convert', 'analyze', 'recommend'));
UPDATE uploads u SET retry_stage = CASE t.from_state
        WHEN 'CONVERTING' THEN 'convert' WHEN 'ANALYZING' THEN 'analyze' ELSE 'recommend' END
    FROM (SELECT DISTINCT ON (upload_id) upload_id, from_state FROM upload_transitions
          WHERE to_state = 'RETRYING' ORDER BY upload_id, id DESC) t
    WHERE u.id = t.upload_id AND u.state = 'RETRYING';
ALTER TABLE uploads ADD CONSTRAINT retry_stage_iff_retrying
    CHECK ((state = 'RETRYING') = (retry_stage IS NOT NULL));
