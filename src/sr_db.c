/*
 * sr_db.c — PostgreSQL connections for request threads, the loop and the migrate command.
 *
 * DESIGN: each request thread keeps one PGconn in thread-local storage and reuses it for every
 * request it serves; a failure marks it broken and the next request reconnects, so a database
 * restart costs one failed request per thread, not a restart of the worker. Connections are
 * opened with connect_timeout and TCP keepalives so that a vanished server is noticed in
 * seconds, and with search_path = pg_catalog so that every object must be named with its schema
 * (libpq's "secure search_path" advice).
 * Statements are prepared once per connection and then executed by name: parsing, analysing
 * and planning the same few dozen SQL texts again for every request was about 40 % of
 * PostgreSQL's CPU on the poll and connect paths (docs/benchmarks.md, profile leads). The cache
 * is per thread, as a PGconn belongs to one thread, and keyed by connection, server backend
 * (a reconnect gets a new one, which knows none of the old names) and SQL text.
 */
#include "config.h"

#include "sr_db.h"

#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_conf.h"
#include "sr_log.h"

static _Thread_local PGconn *thread_db;
static _Thread_local char last_state[6];

/* Prepared statements of this thread's connections. */
#define PREPARED_MAX 128
typedef struct prepared {
    PGconn *conn;
    int backend_pid;
    int nparams;
    uint64_t hash;
    char *sql;
    char name[24];
} prepared;
static _Thread_local prepared cache[PREPARED_MAX];
static _Thread_local int cache_len;
/* Names are never reused within a thread, so a PQprepare can only fail for a real error (which
 * the statement would hit anyway), never for a name the server already has. */
static _Thread_local unsigned long prepared_serial;

static void cache_free_all(void *unused)
{
    (void)unused;
    for (int i = 0; i < cache_len; i++)
        free(cache[i].sql);
    cache_len = 0;
}

/* A thread's cache entries are freed when the thread ends: the key's destructor runs then. */
static pthread_key_t cache_key;
static int cache_key_ok;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void cache_key_create(void)
{
    cache_key_ok = pthread_key_create(&cache_key, cache_free_all) == 0;
}

static void cache_register_thread(void)
{
    pthread_once(&cache_key_once, cache_key_create);
    if (cache_key_ok && !pthread_getspecific(cache_key))
        pthread_setspecific(cache_key, &cache_len); /* any non-NULL value arms the destructor */
}

/* Forgets the statements of @p conn (NULL: of every connection but the one given as @p keep). */
static void cache_forget(PGconn *conn, PGconn *keep, int keep_pid)
{
    int n = 0;
    for (int i = 0; i < cache_len; i++) {
        prepared *p = &cache[i];
        int drop = conn ? p->conn == conn : (p->conn != keep || p->backend_pid != keep_pid);
        if (drop)
            free(p->sql);
        else
            cache[n++] = *p;
    }
    cache_len = n;
}

PGconn *sr_db_connect(const char *role)
{
    char app[64];
    snprintf(app, sizeof app, "signalr-fcgi %s", role);
    const char *conninfo = sr_config && sr_config->db ? sr_config->db : "";
    const char *keys[] = {"dbname", "application_name", "options", "connect_timeout",
                          "keepalives_idle", "keepalives_interval", "keepalives_count", NULL};
    /* A request never waits long for a row lock: a connection piling up requests behind a
     * slow one gets 503s, not a stalled worker (statements may still SET LOCAL a longer one). */
    int request = !strcmp(role, "request");
    const char *values[] = {conninfo,
                            app,
                            request ? "-c search_path=pg_catalog -c lock_timeout=5000"
                                    : "-c search_path=pg_catalog",
                            "5",
                            "30",
                            "10",
                            "3",
                            NULL};
    /* With expand_dbname, a conninfo string or URI in "dbname" supplies every other setting;
     * the later keys only fill in what it leaves unset. An empty one defers to PG* variables. */
    PGconn *db = PQconnectdbParams(keys, values, *conninfo ? 1 : 0);
    if (!db) {
        sr_log_error("database: out of memory creating a connection");
        return NULL;
    }
    if (PQstatus(db) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(db));
        msg[strcspn(msg, "\n")] = '\0';
        sr_log_warn("database: cannot connect (%s): %s", role, msg);
        PQfinish(db);
        return NULL;
    }
    return db;
}

/* A server that shut down or restarted has closed our socket (and usually said why): the socket
 * is readable although we sent nothing. Finding that out costs one poll(2), and saves the next
 * request from failing on a connection that died while it was idle. */
static int idle_connection_lost(PGconn *db)
{
    struct pollfd p = {.fd = PQsocket(db), .events = POLLIN};
    if (p.fd < 0)
        return 1;
    if (poll(&p, 1, 0) <= 0)
        return 0;
    /* An idle session of ours is sent nothing (request threads do not LISTEN): anything there is
     * the server's goodbye, whose EOF libpq may not have read yet. Start afresh. */
    return 1;
}

PGconn *sr_db_thread(void)
{
    if (thread_db && (PQstatus(thread_db) != CONNECTION_OK || idle_connection_lost(thread_db))) {
        PQfinish(thread_db);
        thread_db = NULL;
    }
    if (!thread_db)
        thread_db = sr_db_connect("request");
    return thread_db;
}

void sr_db_thread_reset(void)
{
    if (thread_db) {
        cache_forget(thread_db, NULL, 0);
        PQfinish(thread_db);
    }
    thread_db = NULL;
}

void sr_db_thread_close(void)
{
    sr_db_thread_reset();
}

static PGresult *check(PGconn *db, PGresult *r);

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The name @p sql is prepared under on @p db, preparing it first if needed; NULL when it is
 * not (the caller then sends the text, as without the cache). */
static const char *prepared_name(PGconn *db, const char *sql, int nparams)
{
    uint64_t hash = fnv1a(sql) ^ (uint64_t)nparams;
    int pid = PQbackendPID(db);
    for (int i = 0; i < cache_len; i++) {
        prepared *p = &cache[i];
        if (p->conn == db && p->backend_pid == pid && p->hash == hash && p->nparams == nparams &&
            !strcmp(p->sql, sql))
            return p->name;
    }
    if (cache_len == PREPARED_MAX)
        cache_forget(NULL, db, pid); /* entries of connections closed since */
    if (cache_len == PREPARED_MAX || PQtransactionStatus(db) == PQTRANS_INERROR)
        return NULL;
    cache_register_thread();
    prepared *p = &cache[cache_len];
    *p = (prepared){db, pid, nparams, hash, strdup(sql), ""};
    if (!p->sql)
        return NULL;
    snprintf(p->name, sizeof p->name, "sr_%lu", ++prepared_serial);
    PGresult *r = PQprepare(db, p->name, sql, nparams, NULL);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        free(p->sql); /* the text path reports the error, if there is one */
        return NULL;
    }
    cache_len++;
    return p->name;
}

PGresult *sr_db_query(PGconn *db, const char *sql, int nparams, const char *const *params,
                      const int *lengths, const int *formats)
{
    const char *stmt = prepared_name(db, sql, nparams);
    if (stmt) {
        PGresult *r = PQexecPrepared(db, stmt, nparams, params, lengths, formats, 0);
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        if (!state || strcmp(state, "26000") != 0 || PQtransactionStatus(db) == PQTRANS_INERROR)
            return check(db, r);
        PQclear(r); /* 26000: the server forgot the name (outside a transaction: retry) */
        cache_forget(db, NULL, 0);
    }
    return check(db, PQexecParams(db, sql, nparams, NULL, params, lengths, formats, 0));
}

static PGresult *check(PGconn *db, PGresult *r)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        last_state[0] = '\0';
        return r;
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(last_state, sizeof last_state, "%s", state ? state : "08000");
    char msg[256];
    snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(db));
    msg[strcspn(msg, "\n")] = '\0';
    /* The statement text is ours and fixed; parameters may carry client data, so they are not
     * logged. */
    sr_log_warn("database: statement failed [%s]: %s", last_state, msg);
    PQclear(r);
    return NULL;
}

int sr_db_exec(PGconn *db, const char *sql)
{
    PGresult *r = check(db, PQexec(db, sql));
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

const char *sr_db_last_state(void)
{
    return last_state;
}

int sr_db_broken(PGconn *db)
{
    return !db || PQstatus(db) != CONNECTION_OK;
}
