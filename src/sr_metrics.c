/*
 * sr_metrics.c — worker counters, health and metrics endpoints (see sr_metrics.h).
 *
 * DESIGN: counters are per process (atomics, no locks on hot paths) and exported with a worker
 * label, because each scrape lands on whichever worker the web server picks; the figures that
 * describe the whole service (connections by transport, the notification queue) are read from
 * PostgreSQL at scrape time, so any worker reports them the same. Health answers 200 only when
 * the database answers and this worker's LISTEN session is up; the body says which part failed.
 */
#include "config.h"

#include "sr_metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signalr-fcgi.h"
#include "sr_buf.h"
#include "sr_conf.h"
#include "sr_db.h"
#include "sr_worker.h"

static atomic_long counters[SR_M_COUNT];
static atomic_long parked_gauge;
static atomic_int listening_gauge;
static int cgi_mode;

void sr_metrics_cgi_mode(void)
{
    cgi_mode = 1;
}
/* Feed lag histogram (Prometheus buckets, seconds). */
static const double lag_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define N_LAG (sizeof lag_bounds / sizeof lag_bounds[0])
static atomic_long lag_buckets[N_LAG + 1];
static atomic_long lag_sum_us;

static const char *const names[SR_M_COUNT][2] = {
    {"signalr_negotiates_total", "negotiate requests answered"},
    {"signalr_posts_total", "send requests (POST) answered"},
    {"signalr_records_received_total", "hub records received from clients"},
    {"signalr_responses_5xx_total", "requests answered with a 5xx status"},
    {"signalr_polls_answered_total", "long polls answered"},
    {"signalr_stream_events_total", "Server-Sent Events events written"},
    {"signalr_reaped_total", "connections removed because their client or worker was gone"},
    {"signalr_feed_records_total", "records this worker read from the message log"},
    {"signalr_feed_reconnects_total", "times this worker's LISTEN session was re-established"},
};

void sr_metrics_add(sr_metric m, long n)
{
    atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

void sr_metrics_feed_lag(double seconds)
{
    size_t i = 0;
    while (i < N_LAG && seconds > lag_bounds[i])
        i++;
    atomic_fetch_add_explicit(&lag_buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lag_sum_us, (long)(seconds * 1e6), memory_order_relaxed);
}

void sr_metrics_loop_gauges(long parked, int listening)
{
    atomic_store(&parked_gauge, parked);
    atomic_store(&listening_gauge, listening);
}

static void health(const sr_request *req, sr_response *res)
{
    (void)req;
    PGconn *db = sr_db_thread();
    PGresult *r = db ? sr_db_query(db, "SELECT pg_notification_queue_usage()", 0, NULL, NULL,
                                   NULL)
                     : NULL;
    int listening = cgi_mode || atomic_load(&listening_gauge);
    char body[256];
    snprintf(body, sizeof body,
             "{\"database\":%s,\"listen\":%s,\"notificationQueueUsage\":%s,\"worker\":\"%s\"}",
             r ? "true" : "false", cgi_mode ? "\"not used (CGI)\"" : listening ? "true" : "false",
             r ? PQgetvalue(r, 0, 0) : "null", sr_worker_id());
    if (!r && db && sr_db_broken(db))
        sr_db_thread_reset();
    PQclear(r);
    sr_response_status(res, r && listening ? 200 : 503);
    sr_response_header(res, "Content-Type", "application/json");
    sr_response_header(res, "Cache-Control", "no-cache, no-store");
    sr_response_body(res, body, strlen(body));
}

static void metrics(const sr_request *req, sr_response *res)
{
    (void)req;
    sr_buf out = SR_BUF_INIT;
    const char *w = sr_worker_id();
    for (int m = 0; m < SR_M_COUNT; m++)
        sr_buf_printf(&out, "# HELP %s %s\n# TYPE %s counter\n%s{worker=\"%s\"} %ld\n",
                      names[m][0], names[m][1], names[m][0], names[m][0], w,
                      atomic_load(&counters[m]));
    sr_buf_printf(&out,
                  "# HELP signalr_parked_requests polls and streams held by this worker\n"
                  "# TYPE signalr_parked_requests gauge\nsignalr_parked_requests{worker=\"%s\"} "
                  "%ld\n",
                  w, atomic_load(&parked_gauge));
    sr_buf_printf(&out,
                  "# HELP signalr_publish_latency_seconds commit of a record to this worker "
                  "reading it\n# TYPE signalr_publish_latency_seconds histogram\n");
    long cumulative = 0;
    for (size_t i = 0; i <= N_LAG; i++) {
        cumulative += atomic_load(&lag_buckets[i]);
        if (i < N_LAG)
            sr_buf_printf(&out, "signalr_publish_latency_seconds_bucket{worker=\"%s\",le=\"%g\"} %ld\n",
                          w, lag_bounds[i], cumulative);
        else
            sr_buf_printf(&out, "signalr_publish_latency_seconds_bucket{worker=\"%s\",le=\"+Inf\"} %ld\n",
                          w, cumulative);
    }
    sr_buf_printf(&out, "signalr_publish_latency_seconds_sum{worker=\"%s\"} %.6f\n", w,
                  (double)atomic_load(&lag_sum_us) / 1e6);
    sr_buf_printf(&out, "signalr_publish_latency_seconds_count{worker=\"%s\"} %ld\n", w,
                  cumulative);
    PGconn *db = sr_db_thread();
    PGresult *r = db ? sr_db_query(db,
                                   "SELECT COALESCE(transport, 'none'), count(*) FROM "
                                   "signalr.connections WHERE NOT ended GROUP BY 1",
                                   0, NULL, NULL, NULL)
                     : NULL;
    if (r) {
        sr_buf_appends(&out, "# HELP signalr_connections open connections, all workers\n"
                             "# TYPE signalr_connections gauge\n");
        for (int i = 0; i < PQntuples(r); i++)
            sr_buf_printf(&out, "signalr_connections{transport=\"%s\"} %s\n",
                          PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        PQclear(r);
    } else if (db && sr_db_broken(db)) {
        sr_db_thread_reset();
    }
    sr_response_header(res, "Content-Type", "text/plain; version=0.0.4");
    sr_response_body(res, out.ptr, out.len);
    sr_buf_fini(&out);
}

int sr_metrics_init(void)
{
    static char health_path[128], metrics_path[128];
    const char *prefix = sr_config->observe_prefix;
    if (!prefix || !*prefix)
        return 0;
    snprintf(health_path, sizeof health_path, "%shealth", prefix);
    snprintf(metrics_path, sizeof metrics_path, "%smetrics", prefix);
    if (sr_endpoint_register(health_path, health) != SR_OK ||
        sr_endpoint_register(metrics_path, metrics) != SR_OK)
        return -1;
    return 0;
}
