-- 0004_streaming.sql — invocations that wait for client-to-server streams.
--
-- Objects: signalr.uploads, one row per invocation with stream parameters (written by the POST
-- that carried the invocation; read, updated and finally deleted by the POSTs that carry the
-- stream items and completions, on whichever worker they land; deleted with the connection).
-- state is the method's accumulator (sr_upload_fns), open the stream ids still expected.

CREATE TABLE signalr.uploads (
    connection_id text NOT NULL REFERENCES signalr.connections (id) ON DELETE CASCADE,
    invocation_key text NOT NULL,       -- the first stream id: unique per connection
    invocation_id text,                 -- NULL for a send() (no completion expected)
    method text NOT NULL,
    streams text[] NOT NULL,            -- stream ids in parameter order
    open text[] NOT NULL,               -- stream ids not yet completed
    state jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (connection_id, invocation_key)
);
