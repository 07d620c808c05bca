/*
 * sr_metrics.h — counters of this worker process, and the health and metrics endpoints
 * (Prometheus text format) that report them together with figures from the database.
 */
#ifndef SR_METRICS_H
#define SR_METRICS_H

typedef enum sr_metric {
    SR_M_NEGOTIATES,
    SR_M_POSTS,
    SR_M_RECORDS_IN,      /* hub records received from clients */
    SR_M_RESPONSES_5XX,
    SR_M_POLLS_ANSWERED,
    SR_M_STREAM_EVENTS,   /* SSE events written */
    SR_M_REAPED,          /* connections removed by the reaper */
    SR_M_FEED_RECORDS,    /* records read from the log */
    SR_M_FEED_RECONNECTS,
    SR_M_COUNT
} sr_metric;

/** Adds @p n to a counter. Thread-safe, lock-free. */
void sr_metrics_add(sr_metric m, long n);

/** Records the delay from a record's commit to this worker reading it, in seconds. */
void sr_metrics_feed_lag(double seconds);

/** Loop thread: publishes the loop's own gauges (parked requests, LISTEN alive). */
void sr_metrics_loop_gauges(long parked, int listening);

/** CGI mode: the process never LISTENs (by design), so health does not ask for it. */
void sr_metrics_cgi_mode(void);

/** Registers /signalr/health and /signalr/metrics (under SIGNALR_OBSERVE_PREFIX). */
int sr_metrics_init(void);

#endif
