-- Server instances: every `mutual serve` process registers itself here under
-- a random id and renews its heartbeat about every second (one small write
-- per second per server, whatever the load). An idempotency reservation
-- records the instance that holds it, so that a retry can tell a request
-- that is still running from one whose server died: a reservation whose
-- instance's heartbeat is older than the time-to-live, or whose instance row
-- is gone (a graceful shutdown deletes it; so does the first retry that finds
-- it lapsed), may be taken over at once by the same request. An id that has
-- lapsed is never renewed again: its process registers a new one.
-- Heartbeats are the database's clock (now()), so servers whose clocks
-- disagree still agree on who is alive.
CREATE TABLE server_instances (
    id         UUID        PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat  TIMESTAMPTZ NOT NULL
);

-- The instance holding a pending reservation. NULL for reservations made
-- before this migration, or by a store that did not register an instance
-- (tools and tests): those are taken over only once they are older than the
-- store's StaleAfter, as before.
ALTER TABLE idempotency_keys ADD COLUMN instance UUID;
