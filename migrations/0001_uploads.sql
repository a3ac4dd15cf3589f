-- Uploads and their state machine (P3). States are checked here as well as in
-- Rust so that no writer, however buggy, can store a state that does not exist.
CREATE TABLE uploads (
    id               uuid PRIMARY KEY,
    user_id          text        NOT NULL,
    idempotency_key  text,
    filename         text        NOT NULL,
    content_type     text        NOT NULL,
    declared_bytes   bigint      NOT NULL CHECK (declared_bytes > 0),
    stored_bytes     bigint,
    object_key       text        NOT NULL UNIQUE,
    wav_key          text,
    state            text        NOT NULL CHECK (state IN (
                        'CREATED','UPLOADED','CONVERTING','CONVERTED','ANALYZING','ANALYZED',
                        'RECOMMENDING','COMPLETED','RETRYING','FAILED','REJECTED','EXPIRED')),
    -- Attempt of the current stage (1 = first try).
    attempt          integer     NOT NULL DEFAULT 0,
    -- Automatic re-drives by the watchdog so far (P12: at most 3).
    redrives         integer     NOT NULL DEFAULT 0,
    trace_id         text        NOT NULL,
    url_expires_at   timestamptz NOT NULL,
    analysis         jsonb,
    result           jsonb,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);

-- The watchdog scans only non-terminal uploads, oldest first: its cost grows
-- with the number of candidates, not with the table.
CREATE INDEX uploads_active_by_state ON uploads (state, updated_at)
    WHERE state NOT IN ('COMPLETED','FAILED','REJECTED','EXPIRED');

CREATE TABLE upload_transitions (
    id          bigserial   PRIMARY KEY,
    upload_id   uuid        NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    from_state  text,
    to_state    text        NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempt     integer     NOT NULL,
    error       text,
    trace_id    text        NOT NULL
);
CREATE INDEX upload_transitions_by_upload ON upload_transitions (upload_id, id);

-- Transactional outbox: a message is written in the same transaction as the
-- state change that causes it, and the relay produces it to Kafka. HTTP
-- handlers and stages never talk to Kafka directly.
CREATE TABLE outbox (
    id          bigserial   PRIMARY KEY,
    topic       text        NOT NULL,
    key         text        NOT NULL,
    payload     bytea       NOT NULL,
    headers     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- M1: consumer-side deduplication. One row per processed message id per
-- consumer, kept for the topics' retention and then purged.
CREATE TABLE processed_messages (
    consumer     text        NOT NULL,
    message_id   uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
CREATE INDEX processed_messages_by_age ON processed_messages (processed_at);
