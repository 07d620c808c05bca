/*
 * sr_feed.c — follows the message log for this worker (see sr_feed.h).
 *
 * DESIGN: PostgreSQL is the source of truth and NOTIFY only a doorbell (design.md). The feed
 * holds exactly one database session per worker process; it LISTENs on it, and after every
 * notification, every tick and every reconnect it reads the log from its position onwards, so
 * folded notifications, notifications lost while disconnected and a database restart all end
 * in the same catch-up read. Positions are (commit sequence, message id): commits.seq is drawn
 * at commit time under a lock (sql/migrations/0001_init.sql), so once seq N is visible nothing
 * below N can appear later, and reading "after my position" never skips a record.
 * Records stay in memory for WINDOW_SECONDS so that requests parked here (and polls that arrive
 * later) are caught up from memory; older gaps are read back from the table by sr_park.
 * In CGI mode (listen = 0) no LISTEN is issued: a hundred waiting CGI processes must not become
 * a hundred listeners taxing every NOTIFY (performance.md §3); the table is read on a timer.
 */
#include "config.h"

#include "sr_feed.h"

#include <jansson.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>

#include "sr_db.h"
#include "sr_hub.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_mem.h"
#include "sr_metrics.h"
#include "sr_park.h"
#include "sr_results.h"
#include "sr_streams.h"

#define WINDOW_SECONDS 60.0
#define WINDOW_MAX_RECORDS 200000
#define FETCH_LIMIT 1000

static PGconn *db;
static int listening;
static int use_listen;
static int poll_interval_ms;
static double next_connect_at;
static double connect_backoff = 0.25;
static double connected_since; /* when the loop's session last (re)connected */
static double last_read_at;
static sr_pos position;      /* fetched and offered up to here */
static int have_position;
static sr_pos window_start;  /* memory holds every record after this position */
static sr_rec *window;       /* ring-free array: records [window_head, window_len) are live */
static size_t window_head, window_len, window_cap;

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                    */

static char **json_strings(const char *text, size_t *n)
{
    *n = 0;
    if (!text)
        return NULL;
    json_t *a = json_loads(text, 0, NULL);
    if (!json_is_array(a) || json_array_size(a) == 0) {
        json_decref(a);
        return NULL;
    }
    char **out = sr_xcalloc(json_array_size(a), sizeof *out);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        out[(*n)++] = sr_xstrdup(json_is_string(v) ? json_string_value(v) : "");
    }
    json_decref(a);
    return out;
}

static int kind_from_name(const char *s)
{
    for (int k = SR_KIND_ALL; k <= SR_KIND_CONTROL; k++)
        if (!strcmp(s, sr_kind_name((sr_kind)k)))
            return k;
    return -1;
}

int sr_rec_from_row(PGresult *r, int row, sr_rec *rec)
{
    memset(rec, 0, sizeof *rec);
    int kind = kind_from_name(PQgetvalue(r, row, 3));
    if (kind < 0)
        return -1;
    rec->pos.seq = atoll(PQgetvalue(r, row, 0));
    rec->pos.id = atoll(PQgetvalue(r, row, 1));
    rec->hub = sr_xstrdup(PQgetvalue(r, row, 2));
    rec->kind = (sr_kind)kind;
    rec->targets = json_strings(PQgetisnull(r, row, 4) ? NULL : PQgetvalue(r, row, 4),
                                &rec->n_targets);
    rec->excluded = json_strings(PQgetisnull(r, row, 5) ? NULL : PQgetvalue(r, row, 5),
                                 &rec->n_excluded);
    rec->body_len = (size_t)PQgetlength(r, row, 6);
    rec->body = sr_xstrndup(PQgetvalue(r, row, 6), rec->body_len);
    rec->fetched_at = sr_now();
    return 0;
}

void sr_rec_fini(sr_rec *rec)
{
    for (size_t i = 0; i < rec->n_targets; i++)
        free(rec->targets[i]);
    for (size_t i = 0; i < rec->n_excluded; i++)
        free(rec->excluded[i]);
    free(rec->targets);
    free(rec->excluded);
    free(rec->hub);
    free(rec->body);
    memset(rec, 0, sizeof *rec);
}

static int in_list(char *const *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], id))
            return 1;
    return 0;
}

int sr_rec_targets(const sr_rec *rec, const char *id)
{
    return in_list(rec->targets, rec->n_targets, id);
}

int sr_rec_excludes(const sr_rec *rec, const char *id)
{
    return in_list(rec->excluded, rec->n_excluded, id);
}

/* ------------------------------------------------------------------------------------------ */
/* Window                                                                                     */

static void window_push(sr_rec *rec)
{
    if (window_head > 0 && window_len == window_cap) {
        memmove(window, window + window_head, (window_len - window_head) * sizeof *window);
        window_len -= window_head;
        window_head = 0;
    }
    if (window_len == window_cap) {
        window_cap = window_cap ? window_cap * 2 : 1024;
        window = sr_xrealloc(window, window_cap * sizeof *window);
    }
    window[window_len++] = *rec;
    memset(rec, 0, sizeof *rec);
}

static void window_trim(double now)
{
    while (window_head < window_len &&
           (now - window[window_head].fetched_at > WINDOW_SECONDS ||
            window_len - window_head > WINDOW_MAX_RECORDS)) {
        window_start = window[window_head].pos;
        sr_rec_fini(&window[window_head]);
        window_head++;
    }
}

int sr_feed_replay(sr_pos after, void (*visit)(const sr_rec *rec, void *arg), void *arg)
{
    if (!have_position || sr_pos_cmp(after, window_start) < 0)
        return -1;
    size_t lo = window_head, hi = window_len;
    while (lo < hi) { /* first record after `after` */
        size_t mid = lo + (hi - lo) / 2;
        if (sr_pos_cmp(window[mid].pos, after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < window_len; i++)
        visit(&window[i], arg);
    return 0;
}

sr_pos sr_feed_window_start(void)
{
    return window_start;
}

double sr_feed_connected_since(void)
{
    return db ? connected_since : 0;
}

sr_pos sr_feed_position(void)
{
    return position;
}

/* ------------------------------------------------------------------------------------------ */
/* Database session                                                                           */

PGconn *sr_feed_db(void)
{
    if (db && PQstatus(db) != CONNECTION_OK)
        sr_feed_db_failed();
    return db;
}

void sr_feed_db_failed(void)
{
    if (!db)
        return;
    if (listening)
        sr_loop_del(PQsocket(db));
    PQfinish(db);
    db = NULL;
    listening = 0;
    next_connect_at = sr_now() + connect_backoff;
    sr_log_warn("feed: database connection lost; reconnecting");
}

static void read_log(void);

static void on_socket(int fd, uint32_t events, void *arg)
{
    (void)fd;
    (void)events;
    (void)arg;
    if (!db)
        return;
    if (!PQconsumeInput(db)) {
        sr_feed_db_failed();
        return;
    }
    int woken = 0;
    PGnotify *n;
    while ((n = PQnotifies(db)) != NULL) {
        woken = 1;
        PQfreemem(n);
    }
    if (woken)
        read_log();
}

static void connect_db(void)
{
    double now = sr_now();
    if (db || now < next_connect_at)
        return;
    db = sr_db_connect("loop");
    if (!db) {
        next_connect_at = now + connect_backoff;
        /* Capped at 1 s: once PostgreSQL is back, LISTEN must be back within about a second
         * (reliability-security.md §5.4); a failed attempt on a local socket costs little. */
        connect_backoff = connect_backoff * 2 > 1.0 ? 1.0 : connect_backoff * 2;
        return;
    }
    connect_backoff = 0.25;
    connected_since = sr_now();
    sr_metrics_add(SR_M_FEED_RECONNECTS, 1);
    if (use_listen) {
        if (sr_db_exec(db, "LISTEN signalr") != 0) {
            sr_feed_db_failed();
            return;
        }
        if (sr_loop_add(PQsocket(db), EPOLLIN, on_socket, NULL) != 0) {
            sr_feed_db_failed();
            return;
        }
        listening = 1;
    }
    if (use_listen) {
        /* Lets SQL callers name this worker's hubs by name before they have connections. */
        const char *paths[64];
        size_t n = 0;
        for (size_t i = 0; i < sr_hub_count() && n < 64; i++)
            paths[n++] = sr_hub_at(i)->path;
        if (n && sr_store_hubs_seen(db, paths, n) != 0) {
            sr_feed_db_failed();
            return;
        }
    }
    if (!have_position) {
        if (sr_store_log_end(db, &position) != 0) {
            sr_feed_db_failed();
            return;
        }
        window_start = position;
        have_position = 1;
    }
    /* In CGI mode every request connects: that is not news worth an info line each time. */
    sr_log_at(use_listen ? SR_LOG_INFO : SR_LOG_DEBUG, __FILE__, __LINE__,
              "feed: connected%s; reading the log after (%lld,%lld)",
              use_listen ? " and listening" : "", position.seq, position.id);
    read_log(); /* whatever was committed while we were away */
}

/* Notifications that arrived while a statement ran are already buffered by libpq, where epoll
 * cannot see them; each one may stand for a commit newer than the read that just ended. */
static int drain_notifications(void)
{
    int any = 0;
    PGnotify *n;
    while (db && (n = PQnotifies(db)) != NULL) {
        any = 1;
        PQfreemem(n);
    }
    return any;
}

/* Reads everything after the position and offers it to the parked requests. */
static void read_log(void)
{
    if (!db || !have_position)
        return;
    last_read_at = sr_now();
    for (;;) {
        PGresult *r = sr_store_fetch(db, position, FETCH_LIMIT);
        if (!r) {
            if (sr_db_broken(db))
                sr_feed_db_failed();
            return;
        }
        int n = PQntuples(r);
        if (n > 0) {
            sr_park_batch_begin();
            for (int i = 0; i < n; i++) {
                sr_rec rec;
                if (sr_rec_from_row(r, i, &rec) != 0)
                    continue;
                position = rec.pos;
                sr_metrics_feed_lag(atof(PQgetvalue(r, i, 7)));
                if (rec.kind == SR_KIND_CONTROL) {
                    /* Streams and client-result waiters live in the worker, not in a waiter. */
                    sr_streams_offer(&rec);
                    sr_results_offer(&rec);
                }
                sr_park_offer(&rec);
                window_push(&rec);
            }
            sr_park_batch_end();
            sr_metrics_add(SR_M_FEED_RECORDS, n);
        }
        PQclear(r);
        if (n < FETCH_LIMIT && !drain_notifications())
            break;
    }
}

int sr_feed_start(int listen, int poll_ms)
{
    use_listen = listen;
    poll_interval_ms = poll_ms;
    next_connect_at = 0;
    connect_db();
    return 0;
}

void sr_feed_stop(void)
{
    if (db) {
        if (listening)
            sr_loop_del(PQsocket(db));
        PQfinish(db);
        db = NULL;
    }
    for (size_t i = window_head; i < window_len; i++)
        sr_rec_fini(&window[i]);
    free(window);
    window = NULL;
    window_head = window_len = window_cap = 0;
}

void sr_feed_tick(void)
{
    double now = sr_now();
    if (!db)
        connect_db();
    else if (use_listen) {
        /* The safety net: a wake-up that never came still leads to delivery within a tick. */
        read_log();
    } else if ((now - last_read_at) * 1000.0 >= poll_interval_ms) {
        read_log();
    }
    window_trim(now);
}
