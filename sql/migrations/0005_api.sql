-- 0005_api.sql — the hub context for everything that can talk to PostgreSQL: SQL functions to
-- send to clients, manage groups, close connections and ask what exists, plus the user-group
-- membership behind "put a user (and every connection the user opens later) in a group".
--
-- Objects: signalr.hubs (written by every worker when it connects), signalr.user_groups
-- (written by add/remove_user_to/from_group; read when a connection is activated, which copies
-- the user's groups to group_members), and the functions below. Every function writes through the same message log as hub sends, in the caller's
-- transaction: nothing is delivered unless the caller commits. Hubs are named either by path
-- ('/Hubs/ChatRoom') or by name ('chatroom', the last path segment, any case).
--
-- The records written are the JSON hub protocol's: {"type":1,"target":...,"arguments":[...]}
-- followed by the record separator (chr(30)).

-- The hubs the workers serve (each worker records its hubs when it connects), so that a hub
-- named by its last path segment resolves to the right path even before it has connections.
CREATE TABLE signalr.hubs (
    path text PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signalr.user_groups (
    hub text NOT NULL,
    user_id text NOT NULL,
    name text NOT NULL,
    expires_at timestamptz,                    -- NULL: no expiry
    PRIMARY KEY (hub, user_id, name)
);

-- The hub path a name or path refers to: the path of a hub that has (or had) connections, or
-- the argument itself when it is a path. Raises for anything else.
CREATE FUNCTION signalr.hub_path(hub_name text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    found text;
BEGIN
    IF hub_name IS NULL OR length(hub_name) = 0 OR length(hub_name) > 256 THEN
        RAISE EXCEPTION 'signalr: a hub name or path is required (1 to 256 characters)'
            USING ERRCODE = '22023';
    END IF;
    IF left(hub_name, 1) = '/' THEN
        RETURN hub_name;
    END IF;
    IF hub_name !~ '^[A-Za-z][A-Za-z0-9_]*$' THEN
        RAISE EXCEPTION 'signalr: invalid hub name "%": letters, digits and underscores, starting with a letter', hub_name
            USING ERRCODE = '22023';
    END IF;
    SELECT h.path INTO found FROM signalr.hubs h
        WHERE lower(regexp_replace(h.path, '^.*/', '')) = lower(hub_name)
        ORDER BY h.seen_at DESC LIMIT 1;
    IF found IS NULL THEN
        SELECT c.hub INTO found FROM signalr.connections c
            WHERE lower(regexp_replace(c.hub, '^.*/', '')) = lower(hub_name) LIMIT 1;
    END IF;
    IF found IS NULL THEN
        SELECT m.hub INTO found FROM signalr.messages m
            WHERE lower(regexp_replace(m.hub, '^.*/', '')) = lower(hub_name) LIMIT 1;
    END IF;
    RETURN COALESCE(found, '/Hubs/' || hub_name);
END
$$;

CREATE FUNCTION signalr.check_group(name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
BEGIN
    IF name IS NULL OR octet_length(name) = 0 OR octet_length(name) > 256 OR name ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'signalr: invalid group name: 1 to 256 bytes without control characters'
            USING ERRCODE = '22023';
    END IF;
END
$$;

CREATE FUNCTION signalr.invocation(target text, arguments jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
BEGIN
    IF target IS NULL OR length(target) = 0 OR length(target) > 256 THEN
        RAISE EXCEPTION 'signalr: a client method name is required (1 to 256 characters)'
            USING ERRCODE = '22023';
    END IF;
    IF arguments IS NOT NULL AND jsonb_typeof(arguments) <> 'array' THEN
        RAISE EXCEPTION 'signalr: arguments must be a JSON array, not %', jsonb_typeof(arguments)
            USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object('type', 1, 'target', target,
                              'arguments', COALESCE(arguments, '[]'::jsonb))::text || chr(30);
END
$$;

CREATE FUNCTION signalr.send_all(hub_name text, target text, arguments jsonb DEFAULT '[]',
                                 excluded text[] DEFAULT NULL) RETURNS void
LANGUAGE sql SET search_path = pg_catalog AS $$
    INSERT INTO signalr.messages (hub, kind, excluded, body)
    VALUES (signalr.hub_path(hub_name), 'all', excluded, signalr.invocation(target, arguments));
$$;

CREATE FUNCTION signalr.send_user(hub_name text, user_id text, target text,
                                  arguments jsonb DEFAULT '[]') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF user_id IS NULL OR length(user_id) = 0 THEN
        RAISE EXCEPTION 'signalr: a user id is required' USING ERRCODE = '22023';
    END IF;
    INSERT INTO signalr.messages (hub, kind, targets, body)
    VALUES (signalr.hub_path(hub_name), 'user', ARRAY[user_id], signalr.invocation(target, arguments));
END
$$;

CREATE FUNCTION signalr.send_group(hub_name text, group_name text, target text,
                                   arguments jsonb DEFAULT '[]', excluded text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM signalr.check_group(group_name);
    INSERT INTO signalr.messages (hub, kind, targets, excluded, body)
    VALUES (signalr.hub_path(hub_name), 'group', ARRAY[group_name], excluded,
            signalr.invocation(target, arguments));
END
$$;

CREATE FUNCTION signalr.send_connection(hub_name text, connection_id text, target text,
                                        arguments jsonb DEFAULT '[]') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF connection_id IS NULL OR connection_id !~ '^[A-Za-z0-9_-]{22}$' THEN
        RAISE EXCEPTION 'signalr: invalid connection id' USING ERRCODE = '22023';
    END IF;
    INSERT INTO signalr.messages (hub, kind, targets, body)
    VALUES (signalr.hub_path(hub_name), 'connection', ARRAY[connection_id],
            signalr.invocation(target, arguments));
END
$$;

-- Group membership of one connection; false when there is no such (live) connection.
CREATE FUNCTION signalr.add_to_group(hub_name text, connection_id text, group_name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    path text := signalr.hub_path(hub_name);
BEGIN
    PERFORM signalr.check_group(group_name);
    IF NOT EXISTS (SELECT 1 FROM signalr.connections c WHERE c.id = connection_id
                   AND c.hub = path AND NOT c.ended) THEN
        RETURN false;
    END IF;
    INSERT INTO signalr.group_members (connection_id, name, hub)
    VALUES (connection_id, group_name, path) ON CONFLICT DO NOTHING;
    INSERT INTO signalr.messages (hub, kind, targets, body)
    VALUES (path, 'control', ARRAY[connection_id], 'group+ ' || group_name);
    RETURN true;
END
$$;

CREATE FUNCTION signalr.remove_from_group(hub_name text, connection_id text, group_name text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    path text := signalr.hub_path(hub_name);
BEGIN
    PERFORM signalr.check_group(group_name);
    DELETE FROM signalr.group_members m WHERE m.connection_id = remove_from_group.connection_id
        AND m.name = group_name;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO signalr.messages (hub, kind, targets, body)
    VALUES (path, 'control', ARRAY[connection_id], 'group- ' || group_name);
    RETURN true;
END
$$;

CREATE FUNCTION signalr.remove_from_all_groups(hub_name text, connection_id text) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    g record;
    n integer := 0;
BEGIN
    FOR g IN SELECT m.name FROM signalr.group_members m
             WHERE m.connection_id = remove_from_all_groups.connection_id LOOP
        PERFORM signalr.remove_from_group(hub_name, connection_id, g.name);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- A user in a group: the user's connections now, and those the user opens later (until
-- expires_at), are members.
CREATE FUNCTION signalr.add_user_to_group(hub_name text, user_id text, group_name text,
                                          ttl_seconds integer DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    path text := signalr.hub_path(hub_name);
    c record;
BEGIN
    PERFORM signalr.check_group(group_name);
    IF user_id IS NULL OR length(user_id) = 0 THEN
        RAISE EXCEPTION 'signalr: a user id is required' USING ERRCODE = '22023';
    END IF;
    IF ttl_seconds IS DISTINCT FROM 0 THEN
        INSERT INTO signalr.user_groups (hub, user_id, name, expires_at)
        VALUES (path, user_id, group_name,
                CASE WHEN ttl_seconds IS NULL THEN NULL
                     ELSE now() + make_interval(secs => ttl_seconds) END)
        ON CONFLICT ON CONSTRAINT user_groups_pkey DO UPDATE SET expires_at = EXCLUDED.expires_at;
    END IF;
    FOR c IN SELECT id FROM signalr.connections x WHERE x.hub = path
             AND x.user_id = add_user_to_group.user_id AND NOT x.ended LOOP
        PERFORM signalr.add_to_group(path, c.id, group_name);
    END LOOP;
END
$$;

CREATE FUNCTION signalr.remove_user_from_group(hub_name text, user_id text, group_name text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    path text := signalr.hub_path(hub_name);
    c record;
BEGIN
    PERFORM signalr.check_group(group_name);
    DELETE FROM signalr.user_groups u WHERE u.hub = path
        AND u.user_id = remove_user_from_group.user_id AND u.name = group_name;
    FOR c IN SELECT id FROM signalr.connections x WHERE x.hub = path
             AND x.user_id = remove_user_from_group.user_id LOOP
        PERFORM signalr.remove_from_group(path, c.id, group_name);
    END LOOP;
END
$$;

CREATE FUNCTION signalr.remove_user_from_all_groups(hub_name text, user_id text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    path text := signalr.hub_path(hub_name);
    g record;
BEGIN
    FOR g IN SELECT DISTINCT name FROM (
                 SELECT u.name FROM signalr.user_groups u WHERE u.hub = path
                     AND u.user_id = remove_user_from_all_groups.user_id
                 UNION
                 SELECT m.name FROM signalr.group_members m JOIN signalr.connections x
                     ON x.id = m.connection_id WHERE x.hub = path
                     AND x.user_id = remove_user_from_all_groups.user_id) s LOOP
        PERFORM signalr.remove_user_from_group(path, user_id, g.name);
    END LOOP;
END
$$;

-- Closes a connection: the client receives a Close message (with the reason as its error, if
-- given) and the worker holding it ends the poll or stream; the hub's disconnect hook runs when
-- the client's DELETE arrives, the stream ends, or the reaper removes the connection.
CREATE FUNCTION signalr.close_connection(hub_name text, connection_id text, reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    path text := signalr.hub_path(hub_name);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM signalr.connections c WHERE c.id = connection_id
                   AND c.hub = path AND NOT c.ended) THEN
        RETURN false;
    END IF;
    INSERT INTO signalr.messages (hub, kind, targets, body)
    VALUES (path, 'connection', ARRAY[connection_id],
            CASE WHEN reason IS NULL THEN jsonb_build_object('type', 7)
                 ELSE jsonb_build_object('type', 7, 'error', reason) END::text || chr(30)),
           (path, 'control', ARRAY[connection_id], 'close');
    RETURN true;
END
$$;

CREATE FUNCTION signalr.connection_exists(hub_name text, connection_id text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT EXISTS (SELECT 1 FROM signalr.connections c WHERE c.id = connection_id
                   AND c.hub = signalr.hub_path(hub_name) AND NOT c.ended);
$$;

CREATE FUNCTION signalr.user_exists(hub_name text, user_id text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT EXISTS (SELECT 1 FROM signalr.connections c WHERE c.user_id = user_exists.user_id
                   AND c.hub = signalr.hub_path(hub_name) AND NOT c.ended);
$$;

CREATE FUNCTION signalr.group_exists(hub_name text, group_name text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT EXISTS (SELECT 1 FROM signalr.group_members m JOIN signalr.connections c
                   ON c.id = m.connection_id WHERE m.name = group_name
                   AND m.hub = signalr.hub_path(hub_name) AND NOT c.ended);
$$;

CREATE FUNCTION signalr.user_in_group(hub_name text, user_id text, group_name text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT EXISTS (SELECT 1 FROM signalr.user_groups u WHERE u.hub = signalr.hub_path(hub_name)
                   AND u.user_id = user_in_group.user_id AND u.name = group_name
                   AND (u.expires_at IS NULL OR u.expires_at > now()))
        OR EXISTS (SELECT 1 FROM signalr.group_members m JOIN signalr.connections c
                   ON c.id = m.connection_id WHERE c.user_id = user_in_group.user_id
                   AND m.name = group_name AND m.hub = signalr.hub_path(hub_name) AND NOT c.ended);
$$;
