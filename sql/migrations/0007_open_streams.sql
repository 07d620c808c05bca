-- 0007_open_streams.sql — the server-to-client streams still open, whichever worker runs them.
--
-- Objects: signalr.open_streams, one row per stream a method kept open (sr_stream_keep), written
-- in the transaction of the StreamInvocation that started it and deleted when the stream ends
-- (or with its connection). A StreamInvocation reusing the id of an open stream of its
-- connection is refused with "Invocation ID 'x' is already in use." even when the stream runs
-- on another worker; the worker column says where it runs.

CREATE TABLE signalr.open_streams (
    connection_id text NOT NULL REFERENCES signalr.connections (id) ON DELETE CASCADE,
    invocation_id text NOT NULL,
    worker text NOT NULL,
    PRIMARY KEY (connection_id, invocation_id)
);
