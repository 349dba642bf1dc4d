-- Only a coordinator acting for someone sets an audit event's on_behalf_of;
-- nearly every event (every transfer a member makes, every write of the
-- system) leaves it NULL. audit_events_on_behalf indexed those NULLs too:
-- one more index insert for every write of the exchange, and an index as
-- large as the others (2.1 MB for 52,000 transfers' events, as large as
-- audit_events_member) that no query reads for a NULL. The partial index
-- holds the events done on someone's behalf only; the audit queries
-- (`on_behalf_of = $1`, which implies IS NOT NULL) use it as they used the
-- whole one.
--
-- Shared PostgreSQL/CockroachDB dialect: a partial index with IS NOT NULL,
-- DROP INDEX by a name unique in the database. The schema change is a step
-- of its own (see schema.StepMarker); it may run again.
CREATE INDEX IF NOT EXISTS audit_events_acted_for ON audit_events (on_behalf_of, id) WHERE on_behalf_of IS NOT NULL;
DROP INDEX IF EXISTS audit_events_on_behalf;
-- mutual:step
