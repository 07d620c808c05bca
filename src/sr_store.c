/*
 * sr_store.c — the SQL of the signalr schema (see sr_store.h and sql/migrations/).
 *
 * DESIGN: statements are plain PQexecParams calls with text parameters, except bytea values
 * (token hashes, inbound bytes) which travel in binary form so no escaping is ever needed.
 * Array values go out as array literals built by sr_store_array_literal() and come back as JSON
 * text (array_to_json), which jansson parses, so no PostgreSQL array-literal parser is needed.
 * Every function is a single round trip except where the comment says otherwise.
 */
#include "config.h"

#include "sr_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_db.h"
#include "signalr-fcgi.h"

static const char *const kind_names[] = {"all", "connection", "group", "user", "handshake",
                                         "control"};

const char *sr_kind_name(sr_kind kind)
{
    return kind_names[kind];
}

void sr_conn_row_fini(sr_conn_row *row)
{
    free(row->subject);
    json_decref(row->claims);
    json_decref(row->request);
    json_decref(row->items);
    free(row->hub);
    free(row->transport);
    free(row->user_id);
    sr_buf_fini(&row->inbound);
    memset(row, 0, sizeof *row);
}

static int command(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *r = sr_db_query(db, sql, n, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    PQclear(r);
    return 0;
}

/* A statement answering one boolean: 1 (true), 0 (false) or SR_ERR_DB. */
static int query_bool(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *r = sr_db_query(db, sql, n, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    int value = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return value;
}

int sr_store_begin(PGconn *db)
{
    return command(db, "BEGIN", 0, NULL);
}

int sr_store_commit(PGconn *db)
{
    return command(db, "COMMIT", 0, NULL);
}

void sr_store_rollback(PGconn *db)
{
    if (sr_db_broken(db))
        return;
    PGresult *r = PQexec(db, "ROLLBACK");
    PQclear(r);
}

static char *dup_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

int sr_store_conn_create(PGconn *db, const char *id, const unsigned char *token_hash,
                         const char *hub, int negotiate_version, const char *subject)
{
    char version[16];
    snprintf(version, sizeof version, "%d", negotiate_version);
    const char *params[] = {id, (const char *)token_hash, hub, version, subject};
    const int lengths[] = {0, SR_TOKEN_HASH_BYTES, 0, 0, 0};
    const int formats[] = {0, 1, 0, 0, 0};
    PGresult *r = sr_db_query(
        db,
        "INSERT INTO signalr.connections (id, token_hash, hub, negotiate_version, cursor_seq, "
        "cursor_id, subject) VALUES ($1, $2, $3, $4, (SELECT COALESCE(max(seq), 0) FROM "
        "signalr.commits), 9223372036854775807, $5)",
        5, params, lengths, formats);
    if (!r)
        return SR_ERR_DB;
    PQclear(r);
    return 0;
}

int sr_store_subject_connections(PGconn *db, const char *subject)
{
    const char *params[] = {subject};
    PGresult *r = sr_db_query(db,
                              "SELECT count(*) FROM signalr.connections WHERE subject = $1 "
                              "AND NOT ended",
                              1, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static unsigned long hash_bits32(const unsigned char *token_hash)
{
    return (unsigned long)token_hash[0] << 24 | (unsigned long)token_hash[1] << 16 |
           (unsigned long)token_hash[2] << 8 | token_hash[3];
}

int sr_store_try_send_lock(PGconn *db, const unsigned char *token_hash)
{
    /* Key space 1936287347 is the sends' own (1936287346 holds the migration and commit-order
     * locks); 32 bits of the token hash make a false 409 between two connections a 1 in 4e9
     * coincidence of two simultaneous sends. */
    char key[16];
    snprintf(key, sizeof key, "%lld", (long long)hash_bits32(token_hash) - 2147483648LL);
    const char *params[] = {key};
    return query_bool(db, "SELECT pg_try_advisory_xact_lock(1936287347, $1::int)", 1, params);
}

int sr_store_invocation_slot(PGconn *db, const unsigned char *token_hash, int slots)
{
    /* One advisory key per (connection, slot) in the single-bigint key space, which does not
     * overlap the two-int4 one of the other locks. Free slots are tried first; when all are
     * taken the wait is on one of them (the first to free up would be better, but PostgreSQL
     * cannot wait for any of several locks), bounded like every lock wait of a request. */
    long long base = (0x5352LL << 40) | ((long long)hash_bits32(token_hash) << 8);
    char key[24];
    const char *params[] = {key};
    for (int slot = 0; slot < slots; slot++) {
        snprintf(key, sizeof key, "%lld", base | slot);
        int got = query_bool(db, "SELECT pg_try_advisory_xact_lock($1::bigint)", 1, params);
        if (got != 0)
            return got < 0 ? got : 0;
    }
    snprintf(key, sizeof key, "%lld", base | (long long)(random() % slots));
    if (command(db, "SET LOCAL lock_timeout = '30s'", 0, NULL) != 0 ||
        command(db, "SELECT pg_advisory_xact_lock($1::bigint)", 1, params) != 0)
        return SR_ERR_DB;
    return 0;
}

static int conn_load(PGconn *db, const unsigned char *token_hash, int for_update,
                     sr_conn_row *row)
{
    const char *params[] = {(const char *)token_hash};
    const int lengths[] = {SR_TOKEN_HASH_BYTES};
    const int formats[] = {1};
    PGresult *r = sr_db_query(
        db,
        for_update
            ? "SELECT id, hub, transport, user_id, negotiate_version, handshake_done, "
              "handshake_delivered, holder IS NOT NULL, poll_gen, cursor_seq, cursor_id, inbound, "
              "ended, close_delivered, request, items, subject, claims, "
              "COALESCE(lower(protocol) = 'messagepack', false) "
              "FROM signalr.connections WHERE token_hash = $1 FOR UPDATE"
            : "SELECT id, hub, transport, user_id, negotiate_version, handshake_done, "
              "handshake_delivered, holder IS NOT NULL, poll_gen, cursor_seq, cursor_id, inbound, "
              "ended, close_delivered, request, items, subject, claims, "
              "COALESCE(lower(protocol) = 'messagepack', false) "
              "FROM signalr.connections WHERE token_hash = $1",
        1, params, lengths, formats);
    if (!r)
        return SR_ERR_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", PQgetvalue(r, 0, 0));
    row->hub = dup_or_null(r, 0, 1);
    row->transport = dup_or_null(r, 0, 2);
    row->user_id = dup_or_null(r, 0, 3);
    row->negotiate_version = atoi(PQgetvalue(r, 0, 4));
    row->handshake_done = PQgetvalue(r, 0, 5)[0] == 't';
    row->handshake_delivered = PQgetvalue(r, 0, 6)[0] == 't';
    row->has_holder = PQgetvalue(r, 0, 7)[0] == 't';
    row->poll_gen = atoll(PQgetvalue(r, 0, 8));
    row->cursor.seq = atoll(PQgetvalue(r, 0, 9));
    row->cursor.id = atoll(PQgetvalue(r, 0, 10));
    row->ended = PQgetvalue(r, 0, 12)[0] == 't';
    row->close_delivered = PQgetvalue(r, 0, 13)[0] == 't';
    row->subject = dup_or_null(r, 0, 16);
    row->binary = PQgetvalue(r, 0, 18)[0] == 't';
    row->claims = json_loads(PQgetvalue(r, 0, 17), 0, NULL);
    if (!json_is_object(row->claims)) {
        json_decref(row->claims);
        row->claims = json_object();
    }
    row->request = json_loads(PQgetvalue(r, 0, 14), 0, NULL);
    row->items = json_loads(PQgetvalue(r, 0, 15), 0, NULL);
    if (!json_is_object(row->request)) {
        json_decref(row->request);
        row->request = json_object();
    }
    if (!json_is_object(row->items)) {
        json_decref(row->items);
        row->items = json_object();
    }
    size_t n = 0;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 11), &n);
    if (bytes) {
        sr_buf_append(&row->inbound, bytes, n);
        PQfreemem(bytes);
    }
    PQclear(r);
    return 1;
}

int sr_store_conn_lock(PGconn *db, const unsigned char *token_hash, sr_conn_row *row)
{
    /* Requests of one connection queue on its row; a client that piles them up waits a bounded
     * time instead of holding request threads without end. */
    if (command(db, "SET LOCAL lock_timeout = '5s'", 0, NULL) != 0)
        return SR_ERR_DB;
    return conn_load(db, token_hash, 1, row);
}

int sr_store_poll_take_fast(PGconn *db, const unsigned char *token_hash, const char *hub,
                            const char *subject, const char *worker, PGresult **rows)
{
    const char *params[] = {(const char *)token_hash, hub, subject, worker};
    const int lengths[] = {SR_TOKEN_HASH_BYTES, 0, 0, 0};
    const int formats[] = {1, 0, 0, 0};
    /* The CTE's UPDATE row-locks, checks and bumps in one go; the join reads the groups in
     * the same snapshot, as the full path reads them in its transaction. Its commit does not
     * wait for the WAL flush (set_config(..., true) lasts for this statement's transaction):
     * a flush per poll was most of PostgreSQL's time under long polling, and what a crash can
     * lose here is only the generation bump, which sr_store_polls_finish tolerates (a held
     * poll whose generation is ahead of the row's is still the current one). */
    PGresult *r = sr_db_query(
        db,
        "WITH c AS (UPDATE signalr.connections SET poll_gen = poll_gen + 1, holder = $4, "
        "last_active = now() WHERE token_hash = $1 AND hub = $2 AND transport = 'LongPolling' "
        "AND NOT close_delivered AND holder IS NULL AND subject IS NOT DISTINCT FROM $3 "
        "AND set_config('synchronous_commit', 'off', true) IS NOT NULL "
        "RETURNING id, poll_gen, cursor_seq, cursor_id, user_id, handshake_delivered, "
        "COALESCE(lower(protocol) = 'messagepack', false) AS is_binary) "
        "SELECT c.id, c.poll_gen, c.cursor_seq, c.cursor_id, c.user_id, c.handshake_delivered, "
        "g.name, c.is_binary FROM c LEFT JOIN signalr.group_members g ON g.connection_id = c.id",
        4, params, lengths, formats);
    if (!r)
        return SR_ERR_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    *rows = r;
    return 1;
}

int sr_store_conn_read(PGconn *db, const unsigned char *token_hash, sr_conn_row *row)
{
    return conn_load(db, token_hash, 0, row);
}

int sr_store_conn_merge_items(PGconn *db, const char *id, const json_t *changed,
                              const json_t *removed)
{
    /* Only the keys this invocation touched: invocations running side by side each keep what
     * the others wrote, as they would in one shared Context.Items. */
    char *set = json_dumps(changed, JSON_COMPACT), *gone = json_dumps(removed, JSON_COMPACT);
    const char *params[] = {id, set, gone};
    int rc = command(db,
                     "UPDATE signalr.connections SET items = (items - ARRAY(SELECT "
                     "jsonb_array_elements_text($3::jsonb))) || $2::jsonb WHERE id = $1",
                     3, params);
    free(set);
    free(gone);
    return rc;
}

int sr_store_conn_activate(PGconn *db, const char *id, const char *transport, const char *holder,
                           const json_t *request, const char *user_id, const json_t *claims)
{
    char *doc = request ? json_dumps(request, JSON_COMPACT) : NULL;
    char *cl = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    const char *params[] = {id, transport, holder, doc ? doc : "{}", user_id, cl ? cl : "{}"};
    int rc = command(db,
                     "UPDATE signalr.connections SET transport = $2, holder = $3, "
                     "activated_at = now(), last_active = now(), request = $4::jsonb, "
                     "user_id = $5, claims = $6::jsonb WHERE id = $1",
                     6, params);
    free(doc);
    free(cl);
    return rc;
}

int sr_store_apply_user_groups(PGconn *db, const char *conn_id, const char *hub,
                               const char *user_id)
{
    const char *params[] = {conn_id, hub, user_id};
    return command(db,
                   "INSERT INTO signalr.group_members (connection_id, name, hub) "
                   "SELECT $1, name, hub FROM signalr.user_groups WHERE hub = $2 AND user_id = $3 "
                   "AND (expires_at IS NULL OR expires_at > now()) ON CONFLICT DO NOTHING",
                   3, params);
}

int sr_store_conn_set_items(PGconn *db, const char *id, const json_t *items)
{
    char *doc = json_dumps(items, JSON_COMPACT);
    const char *params[] = {id, doc ? doc : "{}"};
    int rc = command(db, "UPDATE signalr.connections SET items = $2::jsonb WHERE id = $1", 2,
                     params);
    free(doc);
    return rc;
}

int sr_store_group_add(PGconn *db, const char *hub, const char *conn_id, const char *name,
                       int max)
{
    char m[16];
    snprintf(m, sizeof m, "%d", max);
    const char *params[] = {hub, conn_id, name, m};
    /* Already a member counts as success; otherwise the connection must have room left. */
    PGresult *r = sr_db_query(
        db,
        "WITH c AS (SELECT id, (SELECT count(*) FROM signalr.group_members g "
        "WHERE g.connection_id = x.id) AS n, EXISTS (SELECT 1 FROM signalr.group_members g "
        "WHERE g.connection_id = x.id AND g.name = $3) AS member "
        "FROM signalr.connections x WHERE id = $2 AND hub = $1 AND NOT ended), "
        "i AS (INSERT INTO signalr.group_members (connection_id, name, hub) "
        "SELECT id, $3, $1 FROM c WHERE NOT member AND n < $4::integer ON CONFLICT DO NOTHING) "
        "SELECT count(*), bool_or(member OR n < $4::integer) FROM c",
        4, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    int n = atoi(PQgetvalue(r, 0, 0));
    int room = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    return n == 0 ? 0 : room ? 1 : -2;
}

int sr_store_group_remove(PGconn *db, const char *conn_id, const char *name)
{
    const char *params[] = {conn_id, name};
    PGresult *r = sr_db_query(db,
                              "DELETE FROM signalr.group_members WHERE connection_id = $1 "
                              "AND name = $2",
                              2, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n > 0;
}

PGresult *sr_store_groups_of(PGconn *db, const char *conn_id)
{
    const char *params[] = {conn_id};
    return sr_db_query(db,
                       "SELECT name FROM signalr.group_members WHERE connection_id = $1", 1,
                       params, NULL, NULL);
}

int sr_store_conn_received(PGconn *db, const char *id, int pinged)
{
    const char *params[] = {id, pinged ? "t" : "f"};
    return command(db,
                   "UPDATE signalr.connections SET last_received = now(), "
                   "client_pinged = client_pinged OR $2::boolean WHERE id = $1",
                   2, params);
}

PGresult *sr_store_silent_streams(PGconn *db, const char *worker, int timeout)
{
    char t[16];
    snprintf(t, sizeof t, "%d", timeout);
    const char *params[] = {worker, t};
    return sr_db_query(db,
                       "SELECT id FROM signalr.connections WHERE holder = $1 AND client_pinged "
                       "AND NOT ended AND last_received < now() - make_interval(secs => $2::integer)",
                       2, params, NULL, NULL);
}

PGresult *sr_store_conn_release(PGconn *db, const char *id, const char *holder)
{
    const char *params[] = {id, holder};
    return sr_db_query(db,
                       "DELETE FROM signalr.connections WHERE id = $1 AND holder = $2 "
                       "RETURNING id, hub, user_id, transport, handshake_done, ended, request, items",
                       2, params, NULL, NULL);
}

int sr_store_hubs_seen(PGconn *db, const char *const *paths, size_t n)
{
    sr_buf lit = SR_BUF_INIT;
    sr_store_array_literal(&lit, paths, n);
    const char *params[] = {lit.ptr};
    int rc = command(db,
                     "INSERT INTO signalr.hubs (path) SELECT unnest($1::text[]) "
                     "ON CONFLICT (path) DO UPDATE SET seen_at = now()",
                     1, params);
    sr_buf_fini(&lit);
    return rc;
}

int sr_store_worker_beat(PGconn *db, const char *worker)
{
    const char *params[] = {worker};
    return command(db,
                   "INSERT INTO signalr.workers (id) VALUES ($1) ON CONFLICT (id) "
                   "DO UPDATE SET heartbeat_at = now()",
                   1, params);
}

int sr_store_worker_remove(PGconn *db, const char *worker)
{
    const char *params[] = {worker};
    /* Its streams end with it. */
    if (command(db, "DELETE FROM signalr.open_streams WHERE worker = $1", 1, params) != 0)
        return SR_ERR_DB;
    return command(db, "DELETE FROM signalr.workers WHERE id = $1", 1, params);
}

int sr_store_stream_opened(PGconn *db, const char *conn_id, const char *invocation_id,
                           const char *worker)
{
    const char *params[] = {conn_id, invocation_id, worker};
    return command(db,
                   "INSERT INTO signalr.open_streams (connection_id, invocation_id, worker) "
                   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                   3, params);
}

int sr_store_stream_closed(PGconn *db, const char *conn_id, const char *invocation_id)
{
    const char *params[] = {conn_id, invocation_id};
    return command(db,
                   "DELETE FROM signalr.open_streams WHERE connection_id = $1 AND invocation_id = $2",
                   2, params);
}

int sr_store_stream_is_open(PGconn *db, const char *conn_id, const char *invocation_id)
{
    const char *params[] = {conn_id, invocation_id};
    return query_bool(db,
                      "SELECT EXISTS (SELECT 1 FROM signalr.open_streams "
                      "WHERE connection_id = $1 AND invocation_id = $2)",
                      2, params);
}

int sr_store_poll_take(PGconn *db, const char *id, const char *worker, long long *gen)
{
    const char *params[] = {id, worker};
    PGresult *r = sr_db_query(db,
                              "UPDATE signalr.connections SET poll_gen = poll_gen + 1, "
                              "holder = $2, last_active = now() WHERE id = $1 RETURNING poll_gen",
                              2, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return SR_ERR_DB;
    }
    *gen = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int sr_store_conn_handshake(PGconn *db, const char *id, const char *protocol)
{
    const char *params[] = {id, protocol};
    return command(db,
                   "UPDATE signalr.connections SET handshake_done = true, protocol = $2 "
                   "WHERE id = $1",
                   2, params);
}

int sr_store_conn_set_inbound(PGconn *db, const char *id, const char *p, size_t n)
{
    const char *params[] = {id, n ? p : ""};
    const int lengths[] = {0, (int)n};
    const int formats[] = {0, 1};
    PGresult *r = sr_db_query(db, "UPDATE signalr.connections SET inbound = $2 WHERE id = $1",
                              2, params, lengths, formats);
    if (!r)
        return SR_ERR_DB;
    PQclear(r);
    return 0;
}

int sr_store_conn_delete(PGconn *db, const char *id)
{
    const char *params[] = {id};
    PGresult *r =
        sr_db_query(db, "DELETE FROM signalr.connections WHERE id = $1", 1, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n > 0;
}

int sr_store_conn_mark_ended(PGconn *db, const char *id)
{
    const char *params[] = {id};
    return command(db,
                   "UPDATE signalr.connections SET ended = true, last_active = now() "
                   "WHERE id = $1",
                   1, params);
}

int sr_store_poll_close(PGconn *db, const char *id, long long gen, sr_pos cursor)
{
    char g[24], s[24], m[24];
    snprintf(g, sizeof g, "%lld", gen);
    snprintf(s, sizeof s, "%lld", cursor.seq);
    snprintf(m, sizeof m, "%lld", cursor.id);
    const char *params[] = {id, g, s, m};
    PGresult *r = sr_db_query(db,
                              "UPDATE signalr.connections SET close_delivered = true, holder = NULL, "
                              "last_active = now(), cursor_seq = $3::bigint, cursor_id = $4::bigint "
                              "WHERE id = $1 AND poll_gen = $2::bigint",
                              4, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n > 0;
}

void sr_store_array_literal(sr_buf *out, const char *const *items, size_t n)
{
    sr_buf_appendc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sr_buf_appendc(out, ',');
        sr_buf_appendc(out, '"');
        for (const char *s = items[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                sr_buf_appendc(out, '\\');
            sr_buf_appendc(out, *s);
        }
        sr_buf_appendc(out, '"');
    }
    sr_buf_appendc(out, '}');
}

int sr_store_publish(PGconn *db, const char *hub, sr_kind kind, const char *const *targets,
                     size_t n_targets, const char *const *excluded, size_t n_excluded,
                     const char *body, size_t body_len)
{
    sr_buf t = SR_BUF_INIT, x = SR_BUF_INIT;
    if (n_targets)
        sr_store_array_literal(&t, targets, n_targets);
    if (n_excluded)
        sr_store_array_literal(&x, excluded, n_excluded);
    const char *params[] = {hub, sr_kind_name(kind), n_targets ? t.ptr : NULL,
                            n_excluded ? x.ptr : NULL, body};
    const int lengths[] = {0, 0, 0, 0, (int)body_len};
    const int formats[] = {0, 0, 0, 0, 0};
    PGresult *r = sr_db_query(db,
                              "INSERT INTO signalr.messages (hub, kind, targets, excluded, body) "
                              "VALUES ($1, $2, $3::text[], $4::text[], $5)",
                              5, params, lengths, formats);
    sr_buf_fini(&t);
    sr_buf_fini(&x);
    if (!r)
        return SR_ERR_DB;
    PQclear(r);
    return 0;
}

int sr_store_log_end(PGconn *db, sr_pos *end)
{
    /* A position inside a commit is (seq, message id); (seq, INT64_MAX) is "after all of seq". */
    PGresult *r = sr_db_query(db, "SELECT COALESCE(max(seq), 0) FROM signalr.commits", 0, NULL,
                              NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    end->seq = atoll(PQgetvalue(r, 0, 0));
    end->id = SR_POS_ID_END;
    PQclear(r);
    return 0;
}

PGresult *sr_store_fetch(PGconn *db, sr_pos after, int limit)
{
    char seq[24], id[24], lim[16];
    snprintf(seq, sizeof seq, "%lld", after.seq);
    snprintf(id, sizeof id, "%lld", after.id);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {seq, id, lim};
    return sr_db_query(
        db,
        "SELECT c.seq, m.id, m.hub, m.kind, array_to_json(m.targets), "
        "array_to_json(m.excluded), m.body, "
        "extract(epoch FROM clock_timestamp() - c.committed_at) "
        "FROM signalr.commits c JOIN signalr.messages m ON m.xid = c.xid "
        "WHERE c.seq >= $1::bigint AND (c.seq > $1::bigint OR m.id > $2::bigint) "
        "ORDER BY c.seq, m.id LIMIT $3::integer",
        3, params, NULL, NULL);
}

int sr_store_polls_finish(PGconn *db, sr_poll_end *polls, size_t n)
{
    if (n == 0)
        return 0;
    sr_buf ids = SR_BUF_INIT, gens = SR_BUF_INIT, seqs = SR_BUF_INIT, mids = SR_BUF_INIT,
           hs = SR_BUF_INIT;
    sr_buf *lists[] = {&ids, &gens, &seqs, &mids, &hs};
    for (size_t k = 0; k < 5; k++)
        sr_buf_appendc(lists[k], '{');
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        /* Connection ids are base64url (checked at negotiate), so they need no quoting. */
        sr_buf_printf(&ids, "%s%s", sep, polls[i].id);
        sr_buf_printf(&gens, "%s%lld", sep, polls[i].gen);
        sr_buf_printf(&seqs, "%s%lld", sep, polls[i].cursor.seq);
        sr_buf_printf(&mids, "%s%lld", sep, polls[i].cursor.id);
        sr_buf_printf(&hs, "%s%s", sep, polls[i].handshake_delivered ? "t" : "f");
        polls[i].still_current = 0;
    }
    for (size_t k = 0; k < 5; k++)
        sr_buf_appendc(lists[k], '}');
    const char *params[] = {ids.ptr, gens.ptr, seqs.ptr, mids.ptr, hs.ptr};
    PGresult *r = sr_db_query(
        db,
        "UPDATE signalr.connections c SET cursor_seq = u.seq, cursor_id = u.mid, holder = NULL, "
        "last_active = now(), handshake_delivered = c.handshake_delivered OR u.hs "
        "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::boolean[]) "
        "WITH ORDINALITY AS u(id, gen, seq, mid, hs, ord) "
        /* <=, not =: a newer poll has a higher generation; a lower one in the row can only be
         * a bump lost with an unflushed commit when PostgreSQL crashed (the fast poll path) */
        "WHERE c.id = u.id AND c.poll_gen <= u.gen RETURNING u.ord",
        5, params, NULL, NULL);
    for (size_t k = 0; k < 5; k++)
        sr_buf_fini(lists[k]);
    if (!r)
        return SR_ERR_DB;
    /* By position (1-based), not by id: a batch of a thousand polls made this a million string
     * comparisons on the loop thread. */
    for (int row = 0; row < PQntuples(r); row++) {
        long long ord = atoll(PQgetvalue(r, row, 0));
        if (ord >= 1 && (size_t)ord <= n)
            polls[ord - 1].still_current = 1;
    }
    PQclear(r);
    return 0;
}

PGresult *sr_store_reap_idle(PGconn *db, int disconnect_timeout, int poll_timeout,
                             int worker_timeout, const char *const *hubs, size_t n_hubs,
                             int limit)
{
    /* Only the hubs this worker serves: another build's hubs need their own disconnect hooks,
     * which only a worker that has them can run. */
    sr_buf hub_list = SR_BUF_INIT;
    sr_store_array_literal(&hub_list, hubs, n_hubs);
    char dt[16], pt[16], wt[16], lim[16];
    snprintf(dt, sizeof dt, "%d", disconnect_timeout);
    snprintf(pt, sizeof pt, "%d", poll_timeout);
    snprintf(wt, sizeof wt, "%d", worker_timeout);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {dt, pt, wt, lim, hub_list.ptr};
    /* SKIP LOCKED: a connection a request thread is working on right now is not idle. */
    PGresult *r = sr_db_query(
        db,
        "DELETE FROM signalr.connections WHERE id IN ("
        " SELECT c.id FROM signalr.connections c WHERE c.hub = ANY($5::text[]) AND ("
        "  (c.holder IS NULL AND c.last_active < now() - make_interval(secs => $1::integer))"
        "  OR (c.transport IS DISTINCT FROM 'ServerSentEvents' AND c.last_active < now() -"
        "      make_interval(secs => $1::integer + $2::integer + 10))"
        "  OR (c.transport = 'ServerSentEvents' AND c.holder IS NOT NULL AND NOT EXISTS ("
        "      SELECT 1 FROM signalr.workers w WHERE w.id = c.holder"
        "      AND w.heartbeat_at > now() - make_interval(secs => $3::integer))))"
        " LIMIT $4::integer FOR UPDATE SKIP LOCKED) "
        "RETURNING id, hub, user_id, transport, handshake_done, ended, request, items",
        5, params, NULL, NULL);
    sr_buf_fini(&hub_list);
    return r;
}

PGresult *sr_store_reap_handshake(PGconn *db, int handshake_timeout, int limit)
{
    char ht[16], lim[16];
    snprintf(ht, sizeof ht, "%d", handshake_timeout);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *params[] = {ht, lim};
    return sr_db_query(
        db,
        "UPDATE signalr.connections SET ended = true, last_active = now() WHERE id IN ("
        " SELECT id FROM signalr.connections WHERE NOT handshake_done AND NOT ended"
        "  AND activated_at < now() - make_interval(secs => $1::integer)"
        " LIMIT $2::integer FOR UPDATE SKIP LOCKED) RETURNING id, hub",
        2, params, NULL, NULL);
}

int sr_store_prune(PGconn *db, int retention)
{
    char rt[16];
    snprintf(rt, sizeof rt, "%d", retention);
    const char *params[] = {rt};
    int rc = command(db,
                     "DELETE FROM signalr.workers WHERE heartbeat_at < now() - interval '1 day'",
                     0, NULL);
    if (rc)
        return rc;
    rc = command(db,
                     "DELETE FROM signalr.messages WHERE created_at < "
                     "now() - make_interval(secs => $1::integer)",
                     1, params);
    if (rc)
        return rc;
    return command(db,
                   "DELETE FROM signalr.commits WHERE committed_at < "
                   "now() - make_interval(secs => $1::integer)",
                   1, params);
}

/* ------------------------------------------------------------------------------------------ */
/* Client-to-server streams                                                                   */

void sr_upload_row_fini(sr_upload_row *u)
{
    free(u->invocation_key);
    free(u->invocation_id);
    free(u->method);
    json_decref(u->streams);
    json_decref(u->open);
    json_decref(u->state);
    memset(u, 0, sizeof *u);
}

/* Stream ids arrive as a JSON array of strings; PostgreSQL gets them back as text[] through
 * json_array_elements_text, so no array literal has to be built from client data. */
int sr_store_upload_create(PGconn *db, const char *conn_id, const char *invocation_id,
                           const char *method, const json_t *stream_ids, const json_t *state)
{
    char *ids = json_dumps(stream_ids, JSON_COMPACT);
    char *st = json_dumps(state, JSON_COMPACT);
    const char *params[] = {conn_id, invocation_id, method, ids, st};
    int rc = command(db,
                     "INSERT INTO signalr.uploads (connection_id, invocation_key, invocation_id, "
                     "method, streams, open, state) SELECT $1, $4::jsonb->>0, $2, $3, a, a, "
                     "$5::jsonb FROM (SELECT ARRAY(SELECT json_array_elements_text($4::json))"
                     " AS a) s",
                     5, params);
    free(ids);
    free(st);
    return rc;
}

int sr_store_upload_find(PGconn *db, const char *conn_id, const char *stream_id,
                         sr_upload_row *u)
{
    const char *params[] = {conn_id, stream_id};
    PGresult *r = sr_db_query(db,
                              "SELECT invocation_key, invocation_id, method, "
                              "array_to_json(streams), array_to_json(open), state "
                              "FROM signalr.uploads WHERE connection_id = $1 AND $2 = ANY(open) "
                              "FOR UPDATE",
                              2, params, NULL, NULL);
    if (!r)
        return SR_ERR_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    memset(u, 0, sizeof *u);
    u->invocation_key = strdup(PQgetvalue(r, 0, 0));
    u->invocation_id = dup_or_null(r, 0, 1);
    u->method = strdup(PQgetvalue(r, 0, 2));
    u->streams = json_loads(PQgetvalue(r, 0, 3), 0, NULL);
    u->open = json_loads(PQgetvalue(r, 0, 4), 0, NULL);
    u->state = json_loads(PQgetvalue(r, 0, 5), 0, NULL);
    PQclear(r);
    if (!json_is_array(u->streams) || !json_is_array(u->open) || !json_is_object(u->state)) {
        sr_upload_row_fini(u);
        return SR_ERR_DB;
    }
    return 1;
}

int sr_store_upload_save(PGconn *db, const char *conn_id, const sr_upload_row *u)
{
    char *open = json_dumps(u->open, JSON_COMPACT);
    char *st = json_dumps(u->state, JSON_COMPACT);
    const char *params[] = {conn_id, u->invocation_key, open, st};
    int rc = command(db,
                     "UPDATE signalr.uploads SET open = ARRAY(SELECT "
                     "json_array_elements_text($3::json)), state = $4::jsonb "
                     "WHERE connection_id = $1 AND invocation_key = $2",
                     4, params);
    free(open);
    free(st);
    return rc;
}

int sr_store_upload_delete(PGconn *db, const char *conn_id, const char *invocation_key)
{
    const char *params[] = {conn_id, invocation_key};
    return command(db,
                   "DELETE FROM signalr.uploads WHERE connection_id = $1 AND invocation_key = $2",
                   2, params);
}
