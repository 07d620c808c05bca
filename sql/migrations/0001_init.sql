-- 0001_init.sql — the core model: connections, the message log and its commit order.
--
-- Objects: signalr.connections (one row per SignalR connection, read and written by every worker:
-- negotiate inserts, polls/POSTs/DELETE update, the reaper deletes), signalr.messages (every
-- outbound hub record; written by hub sends, read by every worker's feed), signalr.commits (one
-- row per publishing transaction, giving it a position in commit order), signalr.order_commit()
-- and its deferred trigger.
--
-- Why a commit log: a bigserial taken at INSERT is not commit order (a transaction holding id 10
-- can commit after one holding id 11, and a reader that already moved past 11 would skip 10).
-- The deferred trigger runs at COMMIT time, takes a transaction-scoped advisory lock, and only
-- then draws the next commit sequence; the lock is released after the commit is visible, so
-- commit sequence order equals visibility order and a reader that has seen sequence N has seen
-- everything below it. The lock is held only for the commit itself, never for the caller's whole
-- transaction, so a slow application transaction that sends does not stall other publishers.
-- Position of a message = (commits.seq, messages.id).

CREATE TABLE signalr.connections (
    id text PRIMARY KEY,                       -- public connection id (base64url, 22 chars)
    token_hash bytea NOT NULL UNIQUE,          -- BLAKE2b of the secret connection token
    hub text NOT NULL,                         -- hub path, e.g. /Hubs/ChatRoom
    negotiate_version integer NOT NULL,
    transport text CHECK (transport IN ('LongPolling', 'ServerSentEvents')),
    protocol text,                             -- hub protocol chosen at handshake
    handshake_done boolean NOT NULL DEFAULT false,
    handshake_delivered boolean NOT NULL DEFAULT false,
    ended boolean NOT NULL DEFAULT false,       -- the hub session is over; the row stays until
                                               -- a poll has taken the last records (or reaping)
    user_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,                  -- first transport request
    last_active timestamptz NOT NULL DEFAULT now(),
    holder text,                               -- worker holding the poll/stream, NULL if none
    poll_gen bigint NOT NULL DEFAULT 0,        -- bumped by every poll; newest poll wins
    cursor_seq bigint NOT NULL,                -- delivered up to this position
    cursor_id bigint NOT NULL DEFAULT 0,
    inbound bytea NOT NULL DEFAULT '\x'        -- incomplete record carried between POSTs
);
CREATE INDEX connections_idle_idx ON signalr.connections (last_active);

CREATE SEQUENCE signalr.commit_seq;

CREATE TABLE signalr.commits (
    seq bigint PRIMARY KEY,
    xid xid8 NOT NULL UNIQUE,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE signalr.messages (
    id bigserial PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    hub text NOT NULL,
    -- all: every connection of the hub; connection/group/user: the ids in targets;
    -- handshake: the handshake answer to targets[1]; control: an instruction to whichever worker
    -- holds targets[1] ("close", or "poll <gen>" when a newer poll took over).
    kind text NOT NULL CHECK (kind IN ('all', 'connection', 'group', 'user', 'handshake', 'control')),
    targets text[],
    excluded text[],                           -- connection ids never delivered to
    body text NOT NULL,                        -- complete hub record(s) including the 0x1E, or the control verb
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_xid_idx ON signalr.messages (xid);
CREATE INDEX messages_created_idx ON signalr.messages (created_at);

CREATE FUNCTION signalr.order_commit() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    position bigint;
BEGIN
    -- The trigger fires once per inserted row; only the first firing of a transaction works.
    IF current_setting('signalr.ordered_xid', true) = pg_current_xact_id()::text THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('signalr.ordered_xid', pg_current_xact_id()::text, true);
    PERFORM pg_advisory_xact_lock(1936287346, 1);
    position := nextval('signalr.commit_seq');
    INSERT INTO signalr.commits (seq, xid) VALUES (position, pg_current_xact_id());
    PERFORM pg_notify('signalr', position::text);
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER messages_order_commit
    AFTER INSERT ON signalr.messages
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION signalr.order_commit();
