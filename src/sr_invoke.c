/*
 * sr_invoke.c — parallel invocations of one connection (see sr_invoke.h).
 *
 * DESIGN: with one invocation at a time, a POST runs its invocations inside the transaction
 * that holds the connection's row lock, which is what orders them. Running several at once
 * cannot work that way: a method awaiting a client result from its own caller needs the
 * client's next POST (the Completion) to get through while it waits, and the official client
 * sends that POST only once the previous one has been answered. So the POST is answered as
 * soon as its records are accepted (ASP.NET answers once the body is in the connection's
 * pipe, too), and then the same request thread runs the deferred invocations, each in its own
 * transaction: that transaction takes one of N advisory "slots" of the connection (the limit
 * holds across every worker and machine, as the connection may be served by any of them),
 * reads the row without locking it (polls, streams and the next POSTs go on meanwhile), runs
 * the method, and merges its Context.Items changes key by key. The invocations of one POST
 * (the client batches what it sends while a POST is out) are shared, in order, between the
 * request thread and up to N-1 helper threads, each with its own database connection for the
 * batch, so they too run side by side; the slots keep the total at N whichever workers the
 * connection's POSTs reach.
 *
 * The cost of answering first: if the worker dies between the answer and the end of an
 * invocation, that invocation is lost and its caller gets no Completion — the same as a server
 * dying under an ASP.NET connection, except that here the connection itself lives on.
 */
#include "config.h"

#include "sr_invoke.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "sr_conf.h"
#include "sr_db.h"
#include "sr_log.h"
#include "sr_store.h"
#include "sr_streams.h"
#include "sr_token.h"

int sr_invoke_parallelism(const sr_hub *hub)
{
    return hub->max_parallel_invocations > 0 ? hub->max_parallel_invocations
                                             : sr_config->max_parallel_invocations;
}

static int run_one(const sr_hub *hub, const unsigned char *hash, const char *payload, size_t len,
                   int slots)
{
    PGconn *db = sr_db_thread();
    if (!db || sr_store_begin(db) != 0) {
        sr_db_thread_reset();
        return SR_ERR_DB;
    }
    sr_conn_row row;
    int found = sr_store_invocation_slot(db, hash, slots);
    if (found == 0)
        found = sr_store_conn_read(db, hash, &row);
    int rc = found < 0 ? found : 0;
    if (found == 1 && !row.ended && !strcmp(row.hub, hub->path))
        rc = sr_session_run_deferred(db, hub, &row, payload, len);
    if (found == 1)
        sr_conn_row_fini(&row);
    if (rc == 0 && sr_store_commit(db) == 0) {
        sr_streams_after_commit();
        return 0;
    }
    sr_streams_after_rollback();
    if (sr_db_broken(db))
        sr_db_thread_reset();
    else
        sr_store_rollback(db);
    return SR_ERR_DB;
}

/* The invocations of one POST, taken in order by whichever thread is free. */
typedef struct batch {
    const sr_hub *hub;
    unsigned char hash[SR_TOKEN_HASH_BYTES];
    const sr_deferred *later;
    int slots;
    pthread_mutex_t lock;
    size_t next; /* offset of the next record not yet taken */
} batch;

static void drain(batch *b)
{
    for (;;) {
        pthread_mutex_lock(&b->lock);
        size_t off = b->next;
        uint32_t n = 0;
        if (off + sizeof n <= b->later->records.len) {
            memcpy(&n, b->later->records.ptr + off, sizeof n);
            b->next = off + sizeof n + n;
        }
        pthread_mutex_unlock(&b->lock);
        if (off + sizeof n > b->later->records.len)
            return;
        if (run_one(b->hub, b->hash, b->later->records.ptr + off + sizeof n, n, b->slots) != 0)
            sr_log_error("hub %s: an invocation accepted earlier could not run (the database "
                         "failed or no invocation slot of its connection freed up)",
                         b->hub->path);
    }
}

static void *helper_main(void *arg)
{
    drain(arg);
    sr_db_thread_close(); /* the helper's connection lives for one batch */
    return NULL;
}

void sr_invoke_deferred(const sr_hub *hub, const char *token, const sr_deferred *later, int slots)
{
    batch b = {.hub = hub, .later = later, .slots = slots, .next = 0};
    sr_token_hash(token, strlen(token), b.hash);
    pthread_mutex_init(&b.lock, NULL);
    size_t helpers = later->count < (size_t)slots ? later->count - 1 : (size_t)slots - 1;
    pthread_t threads[64];
    size_t started = 0;
    while (started < helpers && started < sizeof threads / sizeof threads[0] &&
           pthread_create(&threads[started], NULL, helper_main, &b) == 0)
        started++; /* a helper that cannot start leaves its share to the others */
    drain(&b);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&b.lock);
}
