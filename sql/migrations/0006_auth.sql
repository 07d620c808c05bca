-- 0006_auth.sql — what authorization needs to remember about a connection.
--
-- Objects: two columns of signalr.connections. subject is the user the negotiate request
-- authenticated as (NULL when anonymous); every later request of the connection must carry the
-- same one (a different user gets 403: reliability-security.md §0.2). claims are the token's
-- claims as the connection's transport request presented them, which method-level policies and
-- hub code (sr_claim) read.

ALTER TABLE signalr.connections
    ADD COLUMN subject text,
    ADD COLUMN claims jsonb NOT NULL DEFAULT '{}';

CREATE INDEX connections_subject_idx ON signalr.connections (subject) WHERE subject IS NOT NULL;
