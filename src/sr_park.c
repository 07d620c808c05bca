/*
 * sr_park.c — the table of requests parked on the event loop (see sr_park.h).
 *
 * DESIGN: waiters are kept in a hash by connection id (records addressed to connections, the
 * handshake answer and control records are routed by lookup) and in one list (records for
 * everyone are offered to each waiter of the hub). A waiter collects the hub records that match
 * it into its frames buffer; the transport is told through ready() and, once per batch, through
 * batch_end(), so that long polling can commit many cursors in one statement.
 * Catching up: a newly parked waiter replays the records the feed holds in memory after its
 * cursor; when its cursor is older than memory, the gap is read from the table first. Matching
 * is the same function in both cases, so a poll sees the same records whichever worker serves
 * it. Before the connection's handshake answer has been collected nothing else is (the client
 * must see the handshake answer first, protocol.md §7.1); group records wait for the hub API.
 */
#include "config.h"

#include "sr_park.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "sr_db.h"
#include "sr_log.h"
#include "sr_loop.h"
#include "sr_mem.h"
#include "sr_mpproto.h"
#include "signalr-fcgi.h"

#define N_BUCKETS 16384

static sr_waiter *buckets[N_BUCKETS];
static sr_waiter *all_head;
static size_t n_parked;
static const sr_waiter_ops *batch_ops[4];
static size_t n_batch_ops;

static unsigned bucket_of(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % N_BUCKETS;
}

sr_waiter *sr_waiter_new(const sr_waiter_ops *ops, sr_exchange *ex)
{
    sr_waiter *w = sr_xcalloc(1, sizeof *w);
    w->ops = ops;
    w->ex = ex;
    return w;
}

static sr_waiter *graveyard;

static void waiter_free(sr_waiter *w)
{
    sr_exchange_free(w->ex);
    for (size_t i = 0; i < w->n_groups; i++)
        free(w->groups[i]);
    free(w->groups);
    free(w->user_id);
    sr_buf_fini(&w->frames);
    free(w);
}

void sr_park_bury(sr_waiter *w)
{
    if (w->buried)
        return;
    sr_park_remove(w);
    w->buried = 1;
    w->grave_next = graveyard;
    graveyard = w;
}

/* Frees buried waiters; called where no walk over waiters is in progress. */
static void sweep(void)
{
    while (graveyard) {
        sr_waiter *w = graveyard;
        graveyard = w->grave_next;
        waiter_free(w);
    }
}

sr_waiter *sr_park_find(const char *conn_id)
{
    for (sr_waiter *w = buckets[bucket_of(conn_id)]; w; w = w->hash_next)
        if (!strcmp(w->conn_id, conn_id))
            return w;
    return NULL;
}

size_t sr_park_count(void)
{
    return n_parked;
}

sr_pos sr_park_seen(const sr_waiter *w)
{
    if (w->full)
        return w->last_collected;
    sr_pos feed = sr_feed_position();
    return sr_pos_cmp(feed, w->cursor) > 0 ? feed : w->cursor;
}

/* ------------------------------------------------------------------------------------------ */
/* Groups                                                                                     */

static size_t group_index(const sr_waiter *w, const char *name)
{
    for (size_t i = 0; i < w->n_groups; i++)
        if (!strcmp(w->groups[i], name))
            return i;
    return (size_t)-1;
}

static void add_group(sr_waiter *w, const char *name)
{
    if (group_index(w, name) != (size_t)-1)
        return;
    w->groups = sr_xrealloc(w->groups, (w->n_groups + 1) * sizeof *w->groups);
    w->groups[w->n_groups++] = sr_xstrdup(name);
}

static void remove_group(sr_waiter *w, const char *name)
{
    size_t i = group_index(w, name);
    if (i == (size_t)-1)
        return;
    free(w->groups[i]);
    w->groups[i] = w->groups[--w->n_groups];
}

void sr_park_add_group(sr_waiter *w, const char *name)
{
    add_group(w, name);
}

void sr_park_set_groups(sr_waiter *w, PGresult *groups)
{
    for (int i = 0; groups && i < PQntuples(groups); i++)
        add_group(w, PQgetvalue(groups, i, 0));
}

static int in_groups(const sr_waiter *w, const sr_rec *rec)
{
    for (size_t i = 0; i < rec->n_targets; i++)
        if (group_index(w, rec->targets[i]) != (size_t)-1)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Matching                                                                                   */

static void note_ready(sr_waiter *w)
{
    const sr_waiter_ops *ops = w->ops;
    ops->ready(w);
    for (size_t i = 0; i < n_batch_ops; i++)
        if (batch_ops[i] == ops)
            return;
    if (n_batch_ops < sizeof batch_ops / sizeof batch_ops[0])
        batch_ops[n_batch_ops++] = ops;
}

static void flush_batch_ops(void)
{
    size_t n = n_batch_ops;
    n_batch_ops = 0;
    for (size_t i = 0; i < n; i++)
        if (batch_ops[i]->batch_end)
            batch_ops[i]->batch_end();
    sweep();
}

/* The last record translated for each protocol (index: binary). A broadcast is offered to every
 * waiter in turn, so it is translated once per protocol, not once per connection. */
static struct {
    int valid;
    sr_pos pos;
    sr_buf bytes;
} translated[2];

/* Appends @p rec in the protocol of @p w: the log is JSON, MessagePack connections get frames
 * (sr_mpproto.h); the handshake answer is JSON in either protocol (protocol.md §7.7). */
static void append_for(sr_waiter *w, const sr_rec *rec)
{
    if (rec->kind == SR_KIND_HANDSHAKE) {
        sr_buf_append(&w->frames, rec->body, rec->body_len);
        return;
    }
    int binary = w->binary != 0;
    if (!translated[binary].valid || sr_pos_cmp(translated[binary].pos, rec->pos) != 0) {
        sr_buf_reset(&translated[binary].bytes);
        sr_mpproto_deliver(binary, rec->body, rec->body_len, &translated[binary].bytes);
        translated[binary].pos = rec->pos;
        translated[binary].valid = 1;
    }
    sr_buf_append(&w->frames, translated[binary].bytes.ptr, translated[binary].bytes.len);
}

static void collect(sr_waiter *w, const sr_rec *rec)
{
    append_for(w, rec);
    w->last_collected = rec->pos;
    if (w->ops->max_frames && w->frames.len >= w->ops->max_frames)
        w->full = 1;
    note_ready(w);
}

/* Offers one record to one waiter. May end (and free) the waiter through its control hook. */
static void offer_to(sr_waiter *w, const sr_rec *rec)
{
    if (!w->parked || w->full || sr_pos_cmp(rec->pos, w->cursor) <= 0 ||
        sr_pos_cmp(rec->pos, w->last_offered) == 0 || strcmp(rec->hub, w->hub) != 0)
        return;
    w->last_offered = rec->pos; /* records come in log order: one check catches repeats */
    switch (rec->kind) {
    case SR_KIND_CONTROL:
        if (!sr_rec_targets(rec, w->conn_id))
            return;
        if (!strncmp(rec->body, "group+ ", 7))
            add_group(w, rec->body + 7);
        else if (!strncmp(rec->body, "group- ", 7))
            remove_group(w, rec->body + 7);
        else if (!strcmp(rec->body, SR_MPPROTO_CONTROL_VERB))
            w->binary = 1;
        else
            w->ops->control(w, rec->body);
        return;
    case SR_KIND_HANDSHAKE:
        if (!sr_rec_targets(rec, w->conn_id))
            return;
        w->handshaken = 1;
        w->handshake_collected = 1;
        collect(w, rec);
        return;
    case SR_KIND_ALL:
        if (w->handshaken && !sr_rec_excludes(rec, w->conn_id))
            collect(w, rec);
        return;
    case SR_KIND_CONNECTION:
        if (w->handshaken && sr_rec_targets(rec, w->conn_id))
            collect(w, rec);
        return;
    case SR_KIND_USER:
        if (w->handshaken && w->user_id && sr_rec_targets(rec, w->user_id) &&
            !sr_rec_excludes(rec, w->conn_id))
            collect(w, rec);
        return;
    case SR_KIND_GROUP:
        if (w->handshaken && in_groups(w, rec) && !sr_rec_excludes(rec, w->conn_id))
            collect(w, rec);
        return;
    }
}

void sr_park_batch_begin(void)
{
}

void sr_park_offer(const sr_rec *rec)
{
    if (rec->kind == SR_KIND_ALL || rec->kind == SR_KIND_USER || rec->kind == SR_KIND_GROUP) {
        for (sr_waiter *w = all_head, *next; w; w = next) {
            next = w->next;
            offer_to(w, rec);
        }
        return;
    }
    for (size_t t = 0; t < rec->n_targets; t++) {
        for (sr_waiter *w = buckets[bucket_of(rec->targets[t])], *next; w; w = next) {
            next = w->hash_next;
            if (!strcmp(w->conn_id, rec->targets[t]))
                offer_to(w, rec);
        }
    }
}

void sr_park_batch_end(void)
{
    flush_batch_ops();
}

/* ------------------------------------------------------------------------------------------ */
/* Parking                                                                                    */

static void on_request_event(int fd, uint32_t events, void *arg)
{
    sr_waiter *w = arg;
    if ((events & EPOLLOUT) && sr_park_write(w, (size_t)-1) != 0) {
        sr_park_remove(w);
        w->ops->hangup(w);
        sweep();
        return;
    }
    if (events & EPOLLIN) {
        char sink[4096];
        ssize_t n = read(fd, sink, sizeof sink);
        if (n > 0)
            return; /* stray input (FastCGI records we do not use): discard */
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
    } else if (!(events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
        return;
    }
    if (!w->parked)
        return; /* ended while writing above */
    sr_park_remove(w);
    w->ops->hangup(w);
    sweep();
}

static void replay_visit(const sr_rec *rec, void *arg)
{
    offer_to(arg, rec);
}

/* Reads records between the waiter's cursor and the start of the feed's memory from the table.
 * Returns 0, or -1 when the database could not be read. */
static int backfill(sr_waiter *w)
{
    PGconn *db = sr_feed_db();
    if (!db)
        return -1;
    sr_pos after = w->cursor, until = sr_feed_window_start();
    while (sr_pos_cmp(after, until) < 0 && w->parked) {
        PGresult *r = sr_store_fetch(db, after, 1000);
        if (!r) {
            if (sr_db_broken(db))
                sr_feed_db_failed();
            return -1;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n && w->parked; i++) {
            sr_rec rec;
            if (sr_rec_from_row(r, i, &rec) != 0)
                continue;
            after = rec.pos;
            if (sr_pos_cmp(rec.pos, until) <= 0)
                offer_to(w, &rec);
            sr_rec_fini(&rec);
        }
        PQclear(r);
        if (n < 1000)
            break;
    }
    return 0;
}

static void park_task(void *arg)
{
    sr_waiter *w = arg;
    unsigned b = bucket_of(w->conn_id);
    w->hash_next = buckets[b];
    buckets[b] = w;
    w->next = all_head;
    if (all_head)
        all_head->prev = w;
    all_head = w;
    w->prev = NULL;
    w->parked = 1;
    w->parked_at = sr_now();
    n_parked++;
    if (w->ex->in_fd >= 0) {
        int flags = fcntl(w->ex->in_fd, F_GETFL);
        fcntl(w->ex->in_fd, F_SETFL, flags | O_NONBLOCK);
        if (sr_loop_add(w->ex->in_fd, EPOLLIN | EPOLLRDHUP, on_request_event, w) != 0) {
            sr_park_remove(w);
            w->ops->hangup(w);
            sweep();
            return;
        }
    }
    if (w->ops->parked) {
        w->ops->parked(w);
        if (!w->parked) {
            sweep();
            return;
        }
    }
    if (sr_feed_replay(w->cursor, replay_visit, w) != 0) {
        if (backfill(w) != 0) {
            sr_log_warn("park: cannot read the log for connection %s; answering later",
                        w->conn_id);
        } else if (w->parked) {
            sr_pos start = sr_feed_window_start();
            if (sr_pos_cmp(w->cursor, start) < 0)
                w->cursor = start;
            sr_feed_replay(w->cursor, replay_visit, w);
        }
    }
    flush_batch_ops();
}

void sr_park_submit(sr_waiter *w)
{
    /* A parked request needs only its socket: the parameters and body (a few KiB per request
     * with lighttpd's ~30 variables) would otherwise stay for the life of a stream. */
    sr_http_request_fini(&w->ex->req);
    sr_loop_post(park_task, w);
}

int sr_park_write(sr_waiter *w, size_t max_pending)
{
    sr_exchange *ex = w->ex;
    int rc = sr_exchange_write_some(ex);
    if (rc < 0)
        return -1;
    if (ex->pending.len > max_pending)
        return -1;
    int want_out = rc == 0;
    if (ex->in_fd >= 0 && want_out != w->watching_out) {
        sr_loop_mod(ex->in_fd, EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0));
        w->watching_out = want_out;
    }
    return 0;
}

void sr_park_remove(sr_waiter *w)
{
    if (!w->parked)
        return;
    sr_waiter **pp = &buckets[bucket_of(w->conn_id)];
    while (*pp && *pp != w)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = w->hash_next;
    if (w->prev)
        w->prev->next = w->next;
    else
        all_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = w->hash_next = NULL;
    w->parked = 0;
    n_parked--;
    if (w->ex && w->ex->in_fd >= 0)
        sr_loop_del(w->ex->in_fd);
}

void sr_park_tick(double now)
{
    for (sr_waiter *w = all_head, *next; w; w = next) {
        next = w->next;
        if (w->ops->tick)
            w->ops->tick(w, now);
    }
    flush_batch_ops();
}

void sr_park_shutdown(void)
{
    for (sr_waiter *w = all_head, *next; w; w = next) {
        next = w->next;
        w->ops->shutdown(w);
    }
    flush_batch_ops();
}

/* ------------------------------------------------------------------------------------------ */
/* Writing a final answer without blocking                                                     */

static size_t n_finishing;

static void on_finish_writable(int fd, uint32_t events, void *arg)
{
    sr_exchange *ex = arg;
    (void)events;
    int rc = sr_exchange_write_some(ex);
    if (rc == 0)
        return;
    sr_loop_del(fd);
    sr_exchange_free(ex);
    n_finishing--;
}

void sr_park_finish_exchange(sr_exchange *ex, const void *response, size_t len)
{
    sr_exchange_queue(ex, response, len);
    sr_exchange_queue_end(ex);
    int rc = sr_exchange_write_some(ex);
    if (rc != 0 || sr_loop_add(ex->out_fd, EPOLLOUT, on_finish_writable, ex) != 0) {
        sr_exchange_free(ex);
        return;
    }
    n_finishing++;
}

size_t sr_park_finishing(void)
{
    return n_finishing;
}
