-- 0002_streams.sql — what Server-Sent Events connections need: worker liveness and the
-- client-timeout clock.
--
-- Objects: signalr.workers (one row per running worker process; inserted at start, heartbeat
-- every few seconds by its loop, deleted at clean shutdown; read by every reaper), two columns
-- of signalr.connections written by POSTs and read by the worker that holds the stream, and
-- close_delivered, set by the long poll that carried an ended session's last records (later
-- polls get 204; the row stays for the client's DELETE or the reaper).
--
-- An SSE connection lives exactly as long as its stream, which one worker holds; unlike a long
-- poll it has no natural end by which to tell that its worker died. So the holder's liveness
-- is the connection's: a connection held by a worker whose heartbeat is stale is reaped
-- (protocol.md §4.4: the connection ends when its stream ends).

CREATE TABLE signalr.workers (
    id text PRIMARY KEY,                        -- host:pid:random, as in connections.holder
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE signalr.connections
    ADD COLUMN client_pinged boolean NOT NULL DEFAULT false,   -- a Ping arrived: timeout armed
    ADD COLUMN last_received timestamptz NOT NULL DEFAULT now(), -- last record from the client
    ADD COLUMN close_delivered boolean NOT NULL DEFAULT false;

CREATE INDEX connections_holder_idx ON signalr.connections (holder) WHERE holder IS NOT NULL;
