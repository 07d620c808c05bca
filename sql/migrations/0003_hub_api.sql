-- 0003_hub_api.sql — what the hub API needs beyond delivery: groups, the connection's request
-- context and its per-connection item store.
--
-- Objects: signalr.group_members (written by sr_group_add/remove from any hub method on any
-- worker, and by SQL functions later; read when a poll or stream is parked; rows vanish with
-- their connection), connections.request (headers, query values and cookies of the request
-- that opened the connection, read by hub methods as their context) and connections.items
-- (Context.Items: a JSON object hub methods read and write, kept between invocations).
--
-- Membership is checked where records are delivered: a group record names groups, and each
-- worker keeps the groups of the connections it holds, refreshed by control records that
-- sr_group_add/remove publish in the same transaction as the membership change, so a change
-- takes effect at its place in commit order.

CREATE TABLE signalr.group_members (
    connection_id text NOT NULL REFERENCES signalr.connections (id) ON DELETE CASCADE,
    name text NOT NULL,
    hub text NOT NULL,
    PRIMARY KEY (connection_id, name)
);
CREATE INDEX group_members_name_idx ON signalr.group_members (hub, name);

ALTER TABLE signalr.connections
    ADD COLUMN request jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN items jsonb NOT NULL DEFAULT '{}';
