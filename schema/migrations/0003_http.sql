-- The HTTP API's idempotency records. A creating POST that carries an
-- Idempotency-Key reserves (member_id, key) here before it runs ('pending',
-- with a random lease that only its holder knows) and stores its response
-- when it is done, so that a retry with the same key and request gets the same
-- response and one with another request is refused. Responses with a 5xx
-- status are never stored: their reservation is deleted so the client can
-- retry. Keys are scoped to the member the request's token belongs to.
CREATE TABLE idempotency_keys (
    member_id    UUID        NOT NULL,
    key          TEXT        NOT NULL,
    request_hash BYTEA       NOT NULL,
    state        TEXT        NOT NULL DEFAULT 'pending',
    lease        UUID        NOT NULL,
    status       BIGINT,
    content_type TEXT,
    location     TEXT,
    body         BYTEA,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (member_id, key),
    CONSTRAINT idempotency_keys_state CHECK (state IN ('pending', 'done')),
    CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_done_has_response CHECK (state = 'pending' OR (status IS NOT NULL AND body IS NOT NULL)),
    CONSTRAINT idempotency_keys_no_server_errors CHECK (status IS NULL OR status < 500)
);
