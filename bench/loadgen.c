/*
 * loadgen.c — fan-out load generator for issue #10: signalr-fcgi side by side with nchan and
 * Pushpin, same client, same machine, same run (driven by bench/run.sh).
 *
 * WHAT ONE RUN DOES
 *   1. connect phase (scenario S1): open N subscribers, at most -c being set up at once, and time
 *      each from its first connect() to "subscribed":
 *        signalr sse: POST negotiate -> GET stream (first body bytes) -> POST handshake; subscribed
 *                     when the stream delivered {}\x1e and the POST answered 200
 *        signalr lp:  POST negotiate -> first GET poll (answers at once) -> POST handshake while
 *                     polling; subscribed when a poll delivered {}\x1e and the POST answered 200
 *        nchan sse / pushpin sse: GET, subscribed on the response head
 *        nchan lp / pushpin lp:   GET, subscribed when the request is written (these servers give
 *                     no earlier sign of having registered a held poll)
 *   2. idle sample (S2): server memory (Pss, /proc/<pid>/smaps_rollup) SETTLE s after the last
 *      subscriber, minus the sample taken before the first connect, per subscriber.
 *   3. rate steps (S3/S5): for every rate in -r, publish at that rate for warm-up + measure + drain
 *      seconds. Each payload is "lg<seq>.<t_us>." padded with 'x' to -s bytes, t_us being
 *      CLOCK_MONOTONIC at the moment the publish is handed to the kernel (the same clock for every
 *      process on the box). Only messages published inside the measurement window count: every
 *      subscriber has a bitmap of them, so reordering is tolerated, a second copy is a duplicate,
 *      and what is still missing after the drain is lost. Latency goes into a log-bucket
 *      histogram (1 % wide buckets) -> p50/p90/p99/max.
 *   Subscribers that the server drops are counted and not reconnected (their loss shows).
 *   Echo (S4, -E 1): the same steps, but message k goes from one subscriber to itself (signalr:
 *   an Echo invocation of /Hubs/Test POSTed on its connection, answered by a Completion; nchan: a
 *   POST to the subscriber's own channel); latency is then the round trip, loss is per message.
 *
 * PUBLISHERS
 *   psql (signalr): a child `psql` reads statements from a pipe; one message per statement
 *     (-b 1: one transaction per message) or -b B messages per statement, i.e. per transaction,
 *     the durable batched path: SELECT signalr.send_all(...) FROM unnest(ARRAY[...]).
 *   nchan: POST /pub?id=<ch>, one message per request, -k keep-alive connections.
 *   pushpin: POST /publish/ on the control port, up to -b items per request, -k connections.
 *   A message that is due while every publisher connection is busy waits (it is stamped when it
 *   is written), so a publisher that cannot keep up shows as pub_rate < rate, not as latency.
 *
 * DESIGN
 *   One thread, epoll, non-blocking sockets, loopback only, no dependency beyond libc. Every HTTP
 *   exchange goes through one small client (struct hc): connect, write the request, parse the
 *   response head, then the body (Content-Length, chunked, or until close) is streamed to the
 *   owner byte by byte through two tiny state machines: the payload marker and SignalR's
 *   handshake answer. Byte-wise scanning needs no buffering and no reassembly across reads or
 *   chunk boundaries, which is what makes one client serve SSE frames, multipart long-poll
 *   bodies and SignalR records alike. Client sockets use source addresses 127.0.0.1-8 in turn,
 *   so that ephemeral ports do not run out over a long run (§8 trap 12).
 *   The run is bounded: every phase has a deadline; SIGINT/SIGTERM end it early with a summary.
 *   The generator's own CPU is reported (cpu_loadgen_pct): if it nears 100 %, the figures measure
 *   the client, not the server (§8).
 *
 * OUTPUT: key=value lines on stdout (connect, idle, step), progress on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------- */
/* Options */

enum target { T_SIGNALR, T_NCHAN, T_PUSHPIN };
enum transport { X_SSE, X_LP };

#define MAX_PORTS 8
#define MAX_RATES 16
#define MAX_PIDSETS 8
#define MAX_PIDS 64

static struct {
    enum target target;
    enum transport transport;
    int ports[MAX_PORTS], n_ports;
    int pub_ports[MAX_PORTS], n_pub_ports;
    const char *path;    /* signalr hub path */
    const char *channel; /* nchan / pushpin channel, signalr hub name for psql */
    int n, concurrency;
    double rates[MAX_RATES];
    int n_rates;
    double warmup, measure, drain, settle, setup_timeout, connect_timeout;
    int size, batch, pub_conns;
    int echo; /* S4: every message goes from one subscriber to itself (see publish) */
    const char *psql; /* psql command line for the signalr publisher */
    const char *label;
} opt = {.path = "/Hubs/ChatRoom", .channel = "bench", .n = 100, .concurrency = 50,
         .warmup = 2, .measure = 6, .drain = 3, .settle = 3, .setup_timeout = 30,
         .connect_timeout = 120, .size = 64, .batch = 1, .pub_conns = 8, .psql = "psql -X -q",
         .label = "-"};

/* Server processes whose CPU and memory are reported: --pid name=pid[+pid..] (those pids) or
 * --tree name=pid (the pid and all its descendants, found again at every sample). */
static struct pidset {
    char name[32];
    int tree;
    int roots[MAX_PIDS], n_roots;
} pidsets[MAX_PIDSETS];
static int n_pidsets;

/* ---------------------------------------------------------------------------------------------- */
/* Small helpers */

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n, s);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return p;
}

static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen[%s]: ", opt.label);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------------- */
/* Latency histogram: bucket i holds values in [1.01^i, 1.01^(i+1)) microseconds; 2,200 buckets
 * reach ~8 minutes. 1 % resolution is finer than the run-to-run noise on this box. */

#define HBUCKETS 2200
typedef struct hist {
    uint64_t b[HBUCKETS];
    uint64_t n;
    int64_t max;
} hist;

static void hist_add(hist *h, int64_t us)
{
    if (us < 1)
        us = 1;
    int i = (int)(log((double)us) / log(1.01));
    if (i >= HBUCKETS)
        i = HBUCKETS - 1;
    h->b[i]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

static double hist_ms(const hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->n), seen = 0;
    if (want < 1)
        want = 1;
    for (int i = 0; i < HBUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) /* bucket midpoint */
            return pow(1.01, i + 0.5) / 1000.0;
    }
    return (double)h->max / 1000.0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Server processes: CPU from /proc/<pid>/stat, Pss from /proc/<pid>/smaps_rollup */

static int read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return (int)n;
}

/* pids of the set, descendants included for a tree (children files of every thread) */
static int pidset_pids(const struct pidset *ps, int *out, int cap)
{
    int n = 0;
    for (int i = 0; i < ps->n_roots && n < cap; i++)
        out[n++] = ps->roots[i];
    if (!ps->tree)
        return n;
    for (int k = 0; k < n && n < cap; k++) {
        char dir[64], path[400], buf[4096];
        snprintf(dir, sizeof dir, "/proc/%d/task", out[k]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) && n < cap) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s/children", dir, e->d_name);
            if (read_file(path, buf, sizeof buf) <= 0)
                continue;
            for (char *p = buf; *p && n < cap;) {
                char *end;
                long v = strtol(p, &end, 10);
                if (end == p)
                    break;
                out[n++] = (int)v;
                p = end;
            }
        }
        closedir(d);
    }
    return n;
}

/* CPU ticks (utime + stime) of the set */
static long long pidset_ticks(const struct pidset *ps)
{
    int pids[MAX_PIDS * 8];
    int n = pidset_pids(ps, pids, MAX_PIDS * 8);
    long long sum = 0;
    for (int i = 0; i < n; i++) {
        char path[64], buf[2048];
        snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
        if (read_file(path, buf, sizeof buf) <= 0)
            continue;
        char *p = strrchr(buf, ')'); /* comm may contain spaces */
        if (!p)
            continue;
        unsigned long long ut = 0, st = 0;
        /* after ") ": state(3) ... utime is field 14, stime 15 */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            sum += (long long)(ut + st);
    }
    return sum;
}

/* Pss in KiB of the set (shared pages divided among the processes mapping them: fair for
 * PostgreSQL's shared buffers and nginx's shared zone) */
static long long pidset_pss(const struct pidset *ps)
{
    int pids[MAX_PIDS * 8];
    int n = pidset_pids(ps, pids, MAX_PIDS * 8);
    long long sum = 0;
    for (int i = 0; i < n; i++) {
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pids[i]);
        if (read_file(path, buf, sizeof buf) <= 0)
            continue;
        char *p = strstr(buf, "\nPss:");
        if (p)
            sum += strtoll(p + 5, NULL, 10);
    }
    return sum;
}

typedef struct sample {
    int64_t t;
    long long ticks[MAX_PIDSETS], pss[MAX_PIDSETS];
    struct rusage self;
} sample;

static void take_sample(sample *s, int with_mem)
{
    s->t = now_us();
    for (int i = 0; i < n_pidsets; i++) {
        s->ticks[i] = pidset_ticks(&pidsets[i]);
        s->pss[i] = with_mem ? pidset_pss(&pidsets[i]) : 0;
    }
    getrusage(RUSAGE_SELF, &s->self);
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

/* " cpu_<name>_pct=.. ... cpu_loadgen_pct=.." over [a, b] */
static void print_cpu(const sample *a, const sample *b)
{
    double wall = (double)(b->t - a->t) / 1e6, tck = (double)sysconf(_SC_CLK_TCK);
    if (wall <= 0)
        wall = 1e-6;
    double total = 0;
    for (int i = 0; i < n_pidsets; i++) {
        double pct = 100.0 * (double)(b->ticks[i] - a->ticks[i]) / tck / wall;
        total += pct;
        printf(" cpu_%s_pct=%.1f", pidsets[i].name, pct);
    }
    printf(" cpu_server_pct=%.1f", total);
    double self = tv_s(b->self.ru_utime) + tv_s(b->self.ru_stime) - tv_s(a->self.ru_utime) -
                  tv_s(a->self.ru_stime);
    printf(" cpu_loadgen_pct=%.1f", 100.0 * self / wall);
}

/* ---------------------------------------------------------------------------------------------- */
/* HTTP client */

enum hstate { H_IDLE, H_CONNECTING, H_WRITING, H_HEAD, H_BODY, H_DONE };
enum bmode { B_LENGTH, B_CHUNKED, B_EOF };
enum chstate { C_SIZE, C_EXT, C_DATA, C_DATA_END, C_TRAILER };

struct hc;
typedef void (*body_fn)(struct hc *, const char *, size_t);
typedef void (*done_fn)(struct hc *, int ok); /* ok = complete response (or 0: error/close) */
typedef void (*head_fn)(struct hc *);

enum { KIND_SUB_MAIN = 1, KIND_SUB_CTL, KIND_PUB };

typedef struct hc {
    int fd;
    uint8_t kind, state, bmode, chstate, keepalive, head_seen;
    int port;
    void *owner;
    body_fn on_body;
    head_fn on_head;
    done_fn on_done;
    char *w;
    uint32_t wlen, woff, wcap;
    char *head; /* response head being collected */
    uint32_t hlen, hcap;
    int status;
    int64_t remaining; /* body bytes left (length mode) or in the current chunk */
    uint32_t trailer_line;
    char *collect; /* when non-NULL the body is also collected (negotiate) */
    uint32_t clen, ccap;
    char last_modified[64], etag[64];
} hc;

static int ep;
static unsigned src_rr;
static struct {
    uint64_t connect_errors, io_errors;
} hstats;

static void hc_close(hc *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->state = H_IDLE; /* callers in the middle of an event check this */
}

static void hc_free(hc *c)
{
    hc_close(c);
    free(c->w);
    free(c->head);
    free(c->collect);
    c->w = c->head = c->collect = NULL;
    c->wcap = c->hcap = c->ccap = 0;
}

static void hc_want(hc *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int hc_connect(hc *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        hstats.connect_errors++;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* rotate the source address over 127.0.0.1-8: 8 x 28k ephemeral ports */
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (src_rr++ % 8));
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
        /* not fatal: the kernel picks the address */
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        hstats.connect_errors++;
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = H_CONNECTING;
    return 0;
}

/* Start a request (text already formatted into c->w by hc_set); reuses a kept-alive socket. */
static int hc_start(hc *c)
{
    c->woff = 0;
    c->hlen = 0;
    c->status = 0;
    c->head_seen = 0;
    c->clen = 0;
    if (c->fd >= 0 && c->keepalive) {
        c->state = H_WRITING;
        hc_want(c, EPOLLOUT);
        return 0;
    }
    hc_close(c);
    return hc_connect(c);
}

static void hc_set(hc *c, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(c->w, c->wcap, fmt, ap);
        va_end(ap);
        if (n >= 0 && (uint32_t)n < c->wcap) {
            c->wlen = (uint32_t)n;
            return;
        }
        c->wcap = (uint32_t)(n > 0 ? n + 256 : 1024);
        c->w = xrealloc(c->w, c->wcap);
    }
}

/* Append raw bytes to the request (bodies built piecewise) */
static void hc_append(hc *c, const char *s, size_t n)
{
    if (c->wlen + n + 1 > c->wcap) {
        c->wcap = (uint32_t)((c->wlen + n + 1) * 2);
        c->w = xrealloc(c->w, c->wcap);
    }
    memcpy(c->w + c->wlen, s, n);
    c->wlen += (uint32_t)n;
    c->w[c->wlen] = 0;
}

static void hc_finish(hc *c, int ok)
{
    c->state = H_DONE;
    if (!c->keepalive || !ok)
        hc_close(c);
    else
        hc_want(c, EPOLLIN); /* notice a server close while idle */
    c->on_done(c, ok);
}

static void hc_body(hc *c, const char *p, size_t n)
{
    if (!n)
        return;
    if (c->collect && c->clen + n < 65536) {
        if (c->clen + n + 1 > c->ccap) {
            c->ccap = (uint32_t)((c->clen + n + 1) * 2);
            c->collect = xrealloc(c->collect, c->ccap);
        }
        memcpy(c->collect + c->clen, p, n);
        c->clen += (uint32_t)n;
        c->collect[c->clen] = 0;
    }
    if (c->on_body)
        c->on_body(c, p, n);
}

static void copy_header(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    out[0] = 0;
    for (const char *p = head; (p = strchr(p, '\n'));) {
        p++;
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t k = strcspn(v, "\r\n");
            if (k >= cap)
                k = cap - 1;
            memcpy(out, v, k);
            out[k] = 0;
            return;
        }
    }
}

/* Parse the head; returns the number of bytes it used from the buffer */
static void hc_parse_head(hc *c)
{
    char *h = c->head;
    c->status = atoi(h + 9);
    c->bmode = B_EOF;
    c->remaining = 0;
    int http11 = !strncmp(h, "HTTP/1.1", 8);
    c->keepalive = (uint8_t)http11;
    char v[128];
    copy_header(h, "Transfer-Encoding", v, sizeof v);
    if (strcasestr(v, "chunked")) {
        c->bmode = B_CHUNKED;
        c->chstate = C_SIZE;
        c->remaining = 0;
    } else {
        copy_header(h, "Content-Length", v, sizeof v);
        if (v[0]) {
            c->bmode = B_LENGTH;
            c->remaining = strtoll(v, NULL, 10);
        }
    }
    copy_header(h, "Connection", v, sizeof v);
    if (strcasestr(v, "close"))
        c->keepalive = 0;
    if (c->bmode == B_EOF)
        c->keepalive = 0;
    if (c->status == 204 || c->status == 304 || c->status / 100 == 1) {
        c->bmode = B_LENGTH;
        c->remaining = 0;
    }
    char lm[64], et[64];
    copy_header(h, "Last-Modified", lm, sizeof lm);
    copy_header(h, "Etag", et, sizeof et);
    if (lm[0])
        memcpy(c->last_modified, lm, sizeof lm);
    if (et[0])
        memcpy(c->etag, et, sizeof et);
    c->head_seen = 1;
}

/* Feed body bytes; returns 1 when the response is complete */
static int hc_feed_body(hc *c, const char *p, size_t n)
{
    if (c->bmode == B_EOF) {
        hc_body(c, p, n);
        return 0;
    }
    if (c->bmode == B_LENGTH) {
        size_t k = (size_t)c->remaining < n ? (size_t)c->remaining : n;
        hc_body(c, p, k);
        c->remaining -= (int64_t)k;
        return c->remaining == 0;
    }
    /* chunked */
    size_t i = 0;
    while (i < n) {
        char ch = p[i];
        switch (c->chstate) {
        case C_SIZE:
            if (isxdigit((unsigned char)ch)) {
                c->remaining = c->remaining * 16 + (isdigit((unsigned char)ch) ? ch - '0' : (tolower(ch) - 'a' + 10));
                i++;
            } else {
                c->chstate = C_EXT;
            }
            break;
        case C_EXT:
            i++;
            if (ch == '\n') {
                if (c->remaining == 0) {
                    c->chstate = C_TRAILER;
                    c->trailer_line = 0;
                } else {
                    c->chstate = C_DATA;
                }
            }
            break;
        case C_DATA: {
            size_t k = (size_t)c->remaining < n - i ? (size_t)c->remaining : n - i;
            hc_body(c, p + i, k);
            i += k;
            c->remaining -= (int64_t)k;
            if (!c->remaining)
                c->chstate = C_DATA_END;
            break;
        }
        case C_DATA_END:
            i++;
            if (ch == '\n') {
                c->chstate = C_SIZE;
                c->remaining = 0;
            }
            break;
        case C_TRAILER:
            i++;
            if (ch == '\n') {
                if (c->trailer_line <= 1)
                    return 1;
                c->trailer_line = 0;
            } else {
                c->trailer_line++;
            }
            break;
        }
    }
    return 0;
}

static void hc_on_event(hc *c, uint32_t ev)
{
    if (c->state == H_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            hstats.connect_errors++;
            hc_finish(c, 0);
            return;
        }
        c->state = H_WRITING;
    }
    if (c->state == H_WRITING) {
        while (c->woff < c->wlen) {
            ssize_t k = write(c->fd, c->w + c->woff, c->wlen - c->woff);
            if (k < 0) {
                if (errno == EAGAIN)
                    return;
                hstats.io_errors++;
                hc_finish(c, 0);
                return;
            }
            c->woff += (uint32_t)k;
        }
        c->state = H_HEAD;
        hc_want(c, EPOLLIN);
        return;
    }
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    char buf[65536];
    for (;;) {
        ssize_t k = read(c->fd, buf, sizeof buf);
        if (k < 0) {
            if (errno == EAGAIN)
                return;
            hstats.io_errors++;
            hc_finish(c, 0);
            return;
        }
        if (k == 0) {
            /* end of stream: completes an until-close body, anything else is an error */
            int ok = c->state == H_BODY && c->bmode == B_EOF;
            if (c->state == H_DONE) { /* idle keep-alive socket closed by the server */
                hc_close(c);
                return;
            }
            c->keepalive = 0;
            hc_finish(c, ok);
            return;
        }
        size_t off = 0;
        if (c->state == H_DONE) /* bytes on an idle socket: ignore */
            continue;
        if (c->state == H_HEAD) {
            if (c->hlen + (uint32_t)k + 1 > c->hcap) {
                c->hcap = c->hlen + (uint32_t)k + 1024;
                c->head = xrealloc(c->head, c->hcap);
            }
            memcpy(c->head + c->hlen, buf, (size_t)k);
            c->hlen += (uint32_t)k;
            c->head[c->hlen] = 0;
            char *end = strstr(c->head, "\r\n\r\n");
            if (!end) {
                if (c->hlen > 16384) {
                    hstats.io_errors++;
                    hc_finish(c, 0);
                    return;
                }
                continue;
            }
            size_t used_in_head = (size_t)(end + 4 - c->head);
            *end = 0;
            hc_parse_head(c);
            c->state = H_BODY;
            if (c->on_head)
                c->on_head(c);
            if (c->state != H_BODY || c->fd < 0) /* the owner ended the exchange */
                return;
            /* the rest of what was read is body; it is the tail of the head buffer */
            size_t rest = c->hlen - used_in_head;
            if (hc_feed_body(c, c->head + used_in_head, rest) || (c->bmode == B_LENGTH && !c->remaining)) {
                hc_finish(c, 1);
                return;
            }
            continue;
        }
        if (c->state == H_BODY && hc_feed_body(c, buf + off, (size_t)k - off)) {
            hc_finish(c, 1);
            return;
        }
        if (c->fd < 0) /* a body callback ended the exchange */
            return;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Subscribers */

enum sphase { S_WAIT, S_SETUP, S_UP, S_FAILED, S_DROPPED };

typedef struct sub {
    int idx;
    uint8_t phase, got_first, hs_record, hs_post_ok, first_poll_done, hs_match;
    uint8_t mk_state; /* payload marker scanner */
    uint8_t echo_busy;
    uint64_t mk_seq, mk_ts;
    int64_t t_start, t_up;
    hc main, ctl;
    char token[96];
    uint8_t *seen; /* bitmap of the measured messages */
    uint64_t recv_total;
} sub;

static sub *subs;
static int n_waiting_next, n_setup, n_up, n_failed, n_dropped;
static hist h_connect;

/* measurement window of the current step */
static struct {
    uint64_t lo, hi; /* seq in [lo, hi) are measured */
    int active;
    uint64_t deliveries, dups, late_outside;
    hist lat;
} win;
static uint64_t next_seq = 1;

static void sub_fail(sub *s, const char *why);

static void on_marker(sub *s, uint64_t seq, uint64_t ts)
{
    s->recv_total++;
    if (!win.active || seq < win.lo || seq >= win.hi || !s->seen)
        return;
    uint64_t k = seq - win.lo;
    uint8_t bit = (uint8_t)(1u << (k & 7));
    if (s->seen[k >> 3] & bit) {
        win.dups++;
        return;
    }
    s->seen[k >> 3] |= bit;
    win.deliveries++;
    hist_add(&win.lat, now_us() - (int64_t)ts);
}

/* Byte-wise scanners: the payload marker lg<digits>.<digits>. and SignalR's handshake answer {}\x1e */
static void scan(sub *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        switch (s->mk_state) {
        case 0:
            if (ch == 'l')
                s->mk_state = 1;
            break;
        case 1:
            s->mk_state = ch == 'g' ? 2 : (ch == 'l' ? 1 : 0);
            s->mk_seq = 0;
            break;
        case 2: /* first digit of seq required */
        case 3:
            if (ch >= '0' && ch <= '9') {
                s->mk_seq = s->mk_seq * 10 + (uint64_t)(ch - '0');
                s->mk_state = 3;
            } else if (ch == '.' && s->mk_state == 3) {
                s->mk_state = 4;
                s->mk_ts = 0;
            } else {
                s->mk_state = ch == 'l' ? 1 : 0;
            }
            break;
        case 4:
        case 5:
            if (ch >= '0' && ch <= '9') {
                s->mk_ts = s->mk_ts * 10 + (uint64_t)(ch - '0');
                s->mk_state = 5;
            } else {
                if (ch == '.' && s->mk_state == 5)
                    on_marker(s, s->mk_seq, s->mk_ts);
                s->mk_state = ch == 'l' ? 1 : 0;
            }
            break;
        }
        if (opt.target == T_SIGNALR && !s->hs_record) {
            static const char hs[] = "{}\x1e";
            if (ch == hs[s->hs_match]) {
                if (++s->hs_match == 3)
                    s->hs_record = 1;
            } else {
                s->hs_match = ch == '{';
            }
        }
    }
}

static void sub_up(sub *s)
{
    if (s->phase != S_SETUP)
        return;
    s->phase = S_UP;
    s->t_up = now_us();
    hist_add(&h_connect, s->t_up - s->t_start);
    n_setup--;
    n_up++;
}

static void sub_check_signalr_up(sub *s)
{
    if (s->hs_record && s->hs_post_ok)
        sub_up(s);
}

static void sub_body(hc *c, const char *p, size_t n)
{
    sub *s = c->owner;
    scan(s, p, n);
    if (opt.target == T_SIGNALR && s->phase == S_SETUP)
        sub_check_signalr_up(s);
}

static void sub_fail(sub *s, const char *why)
{
    static int reported;
    if (reported++ < 5)
        progress("subscriber %d: %s", s->idx, why);
    if (s->phase == S_SETUP) {
        n_setup--;
        n_failed++;
        s->phase = S_FAILED;
    } else if (s->phase == S_UP) {
        n_up--;
        n_dropped++;
        s->phase = S_DROPPED;
    }
    hc_close(&s->main);
    hc_close(&s->ctl);
}

static int sub_port(const sub *s) { return opt.ports[s->idx % opt.n_ports]; }

/* nchan / Pushpin channel of a subscriber: one shared channel, or one per subscriber (echo) */
static const char *sub_channel(const sub *s)
{
    static char buf[96];
    if (!opt.echo)
        return opt.channel;
    snprintf(buf, sizeof buf, "%s%d", opt.channel, s->idx);
    return buf;
}

/* --- requests --- */

static void send_poll(sub *s)
{
    hc *c = &s->main;
    switch (opt.target) {
    case T_SIGNALR:
        hc_set(c, "GET %s?id=%s&_=%lld HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Requested-With: XMLHttpRequest\r\n\r\n",
               opt.path, s->token, (long long)(now_us() / 1000));
        break;
    case T_NCHAN:
        if (c->last_modified[0])
            hc_set(c, "GET /lp?id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-Modified-Since: %s\r\nIf-None-Match: %s\r\n\r\n",
                   sub_channel(s), c->last_modified, c->etag);
        else
            hc_set(c, "GET /lp?id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", sub_channel(s));
        break;
    case T_PUSHPIN:
        hc_set(c, "GET /lp?channel=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", sub_channel(s));
        break;
    }
    if (hc_start(c) < 0)
        sub_fail(s, "cannot connect (poll)");
    else if (opt.target != T_SIGNALR && s->phase == S_SETUP)
        sub_up(s); /* see the header comment: no earlier sign of registration */
}

static void main_head(hc *c)
{
    sub *s = c->owner;
    if (opt.transport == X_SSE) {
        if (c->status != 200) {
            char why[64];
            snprintf(why, sizeof why, "stream answered %d", c->status);
            sub_fail(s, why);
            return;
        }
        if (opt.target != T_SIGNALR)
            sub_up(s);
    }
}

static void post_handshake(sub *s);

/* polls to re-send later: a small queue of (subscriber, time), checked by the loop */
static struct retry {
    sub *s;
    int64_t at;
} *retries;
static size_t n_retries, cap_retries;
static uint64_t poll_errors;

static void retry_later(sub *s)
{
    if (n_retries == cap_retries) {
        cap_retries = cap_retries ? cap_retries * 2 : 64;
        retries = xrealloc(retries, cap_retries * sizeof *retries);
    }
    retries[n_retries++] = (struct retry){s, now_us() + 100000};
}

static void run_retries(void)
{
    int64_t t = now_us();
    for (size_t i = 0; i < n_retries;) {
        if (retries[i].at > t) {
            i++;
            continue;
        }
        sub *s = retries[i].s;
        retries[i] = retries[--n_retries];
        if (s->phase == S_UP || s->phase == S_SETUP)
            send_poll(s);
    }
}

static void main_done(hc *c, int ok)
{
    sub *s = c->owner;
    if (s->phase != S_SETUP && s->phase != S_UP)
        return;
    if (opt.transport == X_SSE) {
        sub_fail(s, ok ? "stream ended by the server" : "stream broken");
        return;
    }
    /* long polling */
    if (!ok) {
        /* a broken poll (e.g. the keep-alive socket closed under it): poll again once */
        send_poll(s);
        return;
    }
    if (opt.target == T_SIGNALR && c->status == 204) {
        sub_fail(s, "poll answered 204 (terminated by the server)");
        return;
    }
    if (c->status != 200 && c->status != 304 && c->status != 408) {
        /* a refused poll (Pushpin answers 500 to bursts of re-polls, §0a): a real client retries,
         * so retry after 100 ms and count it; what was published meanwhile shows as loss */
        poll_errors++;
        retry_later(s);
        return;
    }
    if (opt.target == T_SIGNALR && !s->first_poll_done) {
        s->first_poll_done = 1;
        post_handshake(s);
    }
    send_poll(s);
}

static void ctl_done(hc *c, int ok);

static void post_handshake(sub *s)
{
    static const char hs[] = "{\"protocol\":\"json\",\"version\":1}\x1e";
    hc *c = &s->ctl;
    hc_set(c, "POST %s?id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
           opt.path, s->token, sizeof hs - 1, hs);
    c->keepalive = 0;
    if (hc_start(c) < 0)
        sub_fail(s, "cannot connect (handshake)");
}

static void open_stream(sub *s)
{
    hc *c = &s->main;
    switch (opt.target) {
    case T_SIGNALR:
        hc_set(c, "GET %s?id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", opt.path, s->token);
        break;
    case T_NCHAN:
        hc_set(c, "GET /sse?id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", sub_channel(s));
        break;
    case T_PUSHPIN:
        hc_set(c, "GET /sse?channel=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", sub_channel(s));
        break;
    }
    if (hc_start(c) < 0)
        sub_fail(s, "cannot connect (stream)");
}

/* SignalR SSE: the handshake goes out once the stream has delivered its first bytes (the
 * preamble), i.e. the server has the stream and will deliver the handshake answer on it. */
static void sse_first_bytes(hc *c, const char *p, size_t n)
{
    sub *s = c->owner;
    if (n && !s->got_first && opt.target == T_SIGNALR) {
        s->got_first = 1;
        post_handshake(s);
    }
    sub_body(c, p, n);
}

static void ctl_done(hc *c, int ok)
{
    sub *s = c->owner;
    if (s->phase != S_SETUP)
        return;
    if (!ok || c->status != 200) {
        char why[64];
        snprintf(why, sizeof why, "%s answered %d", s->token[0] ? "handshake POST" : "negotiate", ok ? c->status : -1);
        sub_fail(s, why);
        return;
    }
    if (!s->token[0]) { /* negotiate answer */
        const char *t = c->collect ? strstr(c->collect, "\"connectionToken\":\"") : NULL;
        if (!t) {
            sub_fail(s, "negotiate without connectionToken");
            return;
        }
        t += strlen("\"connectionToken\":\"");
        size_t k = strcspn(t, "\"");
        if (k >= sizeof s->token) {
            sub_fail(s, "token too long");
            return;
        }
        memcpy(s->token, t, k);
        s->token[k] = 0;
        free(c->collect);
        c->collect = NULL;
        c->ccap = c->clen = 0;
        if (opt.transport == X_SSE)
            open_stream(s);
        else
            send_poll(s);
        return;
    }
    s->hs_post_ok = 1;
    sub_check_signalr_up(s);
}

static void sub_begin(sub *s)
{
    s->phase = S_SETUP;
    s->t_start = now_us();
    n_setup++;
    s->main.fd = s->ctl.fd = -1;
    s->main.kind = KIND_SUB_MAIN;
    s->ctl.kind = KIND_SUB_CTL;
    s->main.owner = s->ctl.owner = s;
    s->main.port = s->ctl.port = sub_port(s);
    s->main.on_head = main_head;
    s->main.on_body = opt.transport == X_SSE ? sse_first_bytes : sub_body;
    s->main.on_done = main_done;
    s->ctl.on_done = ctl_done;
    if (opt.target == T_SIGNALR) {
        hc *c = &s->ctl;
        c->collect = xcalloc(1, 1);
        c->ccap = 1;
        hc_set(c, "POST %s/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
                  "X-Requested-With: XMLHttpRequest\r\nConnection: close\r\n\r\n",
               opt.path);
        if (hc_start(c) < 0)
            sub_fail(s, "cannot connect (negotiate)");
        return;
    }
    if (opt.transport == X_SSE)
        open_stream(s);
    else
        send_poll(s);
}

/* ---------------------------------------------------------------------------------------------- */
/* Publishers */

typedef struct pub {
    hc c;
    int busy;
} pub;

static pub *pubs;
static int n_pubs;
static uint64_t pub_sent, pub_errors, pub_requests;
static int psql_fd = -1;
static pid_t psql_pid;
static char *pbuf; /* pending bytes for psql */
static size_t plen, pcap;

static void payload(char *out, size_t cap, uint64_t seq)
{
    int n = snprintf(out, cap, "lg%llu.%lld.", (unsigned long long)seq, (long long)now_us());
    while (n < opt.size && (size_t)n < cap - 1)
        out[n++] = 'x';
    out[n] = 0;
}

static void pub_done(hc *c, int ok)
{
    pub *p = c->owner;
    p->busy = 0;
    if (!ok || c->status / 100 != 2)
        pub_errors++;
}

static void pbuf_add(const char *s, size_t n)
{
    if (plen + n > pcap) {
        pcap = (plen + n) * 2;
        pbuf = xrealloc(pbuf, pcap);
    }
    memcpy(pbuf + plen, s, n);
    plen += n;
}

static void psql_flush(void)
{
    while (plen) {
        ssize_t k = write(psql_fd, pbuf, plen);
        if (k <= 0)
            return; /* EAGAIN: psql is busy; the rest waits */
        memmove(pbuf, pbuf + k, plen - (size_t)k);
        plen -= (size_t)k;
    }
}

static void psql_start(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        perror("pipe");
        exit(2);
    }
    psql_pid = fork();
    if (psql_pid == 0) {
        dup2(fds[0], 0);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        execl("/bin/sh", "sh", "-c", opt.psql, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    psql_fd = fds[1];
    fcntl(psql_fd, F_SETFL, O_NONBLOCK);
    fcntl(psql_fd, F_SETPIPE_SZ, 1 << 20);
}

static void echo_done(hc *c, int ok)
{
    sub *s = c->owner;
    s->echo_busy = 0;
    if (!ok || c->status / 100 != 2)
        pub_errors++;
}

/* S4 echo: message k goes from subscriber k mod n (the next idle one) to itself — signalr-fcgi:
 * an invocation of /Hubs/Test Echo POSTed on the subscriber's own connection, answered by a
 * Completion on its stream or poll; nchan: a POST to the subscriber's own channel. Each subscriber
 * has one request in flight at most (its keep-alive control connection). */
static int echo_publish(int count)
{
    static int rr;
    static unsigned long long inv;
    char pl[4096];
    int done = 0;
    for (int tries = 0; tries < opt.n && done < count; tries++) {
        sub *s = &subs[rr++ % opt.n];
        if (s->phase != S_UP || s->echo_busy)
            continue;
        hc *c = &s->ctl;
        payload(pl, sizeof pl, next_seq++);
        if (opt.target == T_SIGNALR) {
            char body[4200];
            int bl = snprintf(body, sizeof body, "{\"type\":1,\"invocationId\":\"%llu\",\"target\":\"Echo\",\"arguments\":[\"%s\"]}\x1e",
                              ++inv, pl);
            hc_set(c, "POST %s?id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                   opt.path, s->token, bl, body);
        } else {
            c->port = opt.pub_ports[s->idx % opt.n_pub_ports];
            hc_set(c, "POST /pub?id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                   sub_channel(s), strlen(pl), pl);
        }
        c->on_done = echo_done;
        s->echo_busy = 1;
        pub_requests++;
        if (hc_start(c) < 0) {
            s->echo_busy = 0;
            pub_errors++;
        }
        done++;
    }
    pub_sent += (uint64_t)done;
    return done;
}

/* Publish `count` messages now; returns how many went out (the rest stays due) */
static int publish(int count)
{
    char pl[4096];
    if (opt.echo)
        return echo_publish(count);
    if (opt.target == T_SIGNALR) {
        if (plen > (1u << 20)) /* psql is far behind: do not queue without bound */
            return 0;
        int done = 0;
        while (done < count) {
            int b = count - done < opt.batch ? count - done : opt.batch;
            char line[256];
            if (b == 1) {
                payload(pl, sizeof pl, next_seq++);
                snprintf(line, sizeof line, "SELECT signalr.send_all('%s','ReceivePublicMessage','[\"", opt.channel);
                pbuf_add(line, strlen(line));
                pbuf_add(pl, strlen(pl));
                pbuf_add("\"]');\n", 6);
            } else {
                /* one statement = one transaction = one commit and one NOTIFY for b messages */
                snprintf(line, sizeof line, "SELECT count(signalr.send_all('%s','ReceivePublicMessage',jsonb_build_array(x))) FROM unnest(ARRAY['",
                         opt.channel);
                pbuf_add(line, strlen(line));
                for (int i = 0; i < b; i++) {
                    payload(pl, sizeof pl, next_seq++);
                    if (i)
                        pbuf_add("','", 3);
                    pbuf_add(pl, strlen(pl));
                }
                pbuf_add("']) x;\n", 7);
            }
            done += b;
        }
        pub_sent += (uint64_t)done;
        pub_requests++;
        psql_flush();
        return done;
    }
    int done = 0;
    for (int i = 0; i < n_pubs && done < count; i++) {
        pub *p = &pubs[i];
        if (p->busy)
            continue;
        hc *c = &p->c;
        if (opt.target == T_NCHAN) {
            payload(pl, sizeof pl, next_seq++);
            hc_set(c, "POST /pub?id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                   opt.channel, strlen(pl), pl);
            done++;
        } else {
            int b = count - done < opt.batch ? count - done : opt.batch;
            char body_head[] = "{\"items\":[";
            c->wlen = 0;
            if (!c->w) {
                c->wcap = 4096;
                c->w = xrealloc(NULL, c->wcap);
            }
            /* the head is written last, when the body length is known: build the body first */
            static char *body;
            static size_t bcap;
            size_t need = (size_t)b * ((size_t)opt.size * 2 + 200) + 64, bl = 0;
            if (need > bcap) {
                bcap = need;
                body = xrealloc(body, bcap);
            }
            bl += (size_t)snprintf(body + bl, bcap - bl, "%s", body_head);
            for (int k = 0; k < b; k++) {
                payload(pl, sizeof pl, next_seq++);
                bl += (size_t)snprintf(body + bl, bcap - bl,
                                       "%s{\"channel\":\"%s\",\"formats\":{\"http-stream\":{\"content\":\"data: %s\\n\\n\"},"
                                       "\"http-response\":{\"body\":\"%s\\n\"}}}",
                                       k ? "," : "", opt.channel, pl, pl);
            }
            bl += (size_t)snprintf(body + bl, bcap - bl, "]}");
            hc_set(c, "POST /publish/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   bl);
            hc_append(c, body, bl);
            done += b;
        }
        p->busy = 1;
        pub_requests++;
        if (hc_start(c) < 0) {
            p->busy = 0;
            pub_errors++;
        }
    }
    pub_sent += (uint64_t)done;
    return done;
}

static void pubs_init(void)
{
    if (opt.echo)
        return;
    if (opt.target == T_SIGNALR) {
        psql_start();
        return;
    }
    n_pubs = opt.pub_conns;
    pubs = xcalloc((size_t)n_pubs, sizeof *pubs);
    for (int i = 0; i < n_pubs; i++) {
        pubs[i].c.fd = -1;
        pubs[i].c.kind = KIND_PUB;
        pubs[i].c.owner = &pubs[i];
        pubs[i].c.on_done = pub_done;
        pubs[i].c.port = opt.pub_ports[i % opt.n_pub_ports];
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Event loop */

static void loop_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++) {
        hc *c = evs[i].data.ptr;
        if (c->fd < 0)
            continue;
        hc_on_event(c, evs[i].events);
    }
    if (psql_fd >= 0 && plen)
        psql_flush();
    if (n_retries)
        run_retries();
}

/* run the loop until `until` (µs), publishing at `rate` msg/s if rate > 0 */
static void run_until(int64_t until, double rate, int64_t t0, uint64_t *due_base)
{
    static int64_t last_pub;
    while (!stop_signal) {
        int64_t t = now_us();
        if (t >= until)
            return;
        if (rate > 0) {
            uint64_t due = (uint64_t)((double)(t - t0) * rate / 1e6) - *due_base;
            /* batching: wait for a full batch, but never longer than 10 ms */
            if (due > 0 && (due >= (uint64_t)opt.batch || t - last_pub >= 10000)) {
                last_pub = t;
                /* cap one burst, so that a stalled publisher does not release a flood later */
                int k = due > 5000 ? 5000 : (int)due;
                *due_base += (uint64_t)publish(k);
            }
        }
        loop_once(1);
    }
}

/* ---------------------------------------------------------------------------------------------- */

static const char *target_name(void)
{
    return opt.target == T_SIGNALR ? "signalr" : opt.target == T_NCHAN ? "nchan" : "pushpin";
}

static int parse_ports(const char *s, int *out)
{
    int n = 0;
    for (const char *p = s; *p && n < MAX_PORTS;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0 || v > 65535)
            return -1;
        out[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static void add_pidset(const char *arg, int tree)
{
    if (n_pidsets >= MAX_PIDSETS)
        return;
    struct pidset *ps = &pidsets[n_pidsets];
    const char *eq = strchr(arg, '=');
    if (!eq || eq - arg >= (long)sizeof ps->name) {
        fprintf(stderr, "loadgen: bad --pid/--tree %s (want name=pid[+pid])\n", arg);
        exit(2);
    }
    memcpy(ps->name, arg, (size_t)(eq - arg));
    ps->tree = tree;
    for (const char *p = eq + 1; *p && ps->n_roots < MAX_PIDS;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (v > 0)
            ps->roots[ps->n_roots++] = (int)v;
        p = *end == '+' ? end + 1 : end;
        if (*end && *end != '+')
            break;
    }
    n_pidsets++;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen -T signalr|nchan|pushpin -X sse|lp -p PORT[,PORT..] [-P PUBPORT[,..]]\n"
            "               [-n subs] [-c concurrency] [-r rate[,rate..]] [-s size] [-b batch] [-k pubconns]\n"
            "               [-w warmup_s] [-m measure_s] [-d drain_s] [-S settle_s] [-t connect_timeout_s]\n"
            "               [-H hubpath] [-C channel|hubname] [-Q 'psql command'] [-L label] [-E 1 (echo)]\n"
            "               [--pid name=pid[+pid..]] [--tree name=pid] ...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--pid") && v) {
            add_pidset(v, 0);
            i++;
            continue;
        }
        if (!strcmp(a, "--tree") && v) {
            add_pidset(v, 1);
            i++;
            continue;
        }
        if (a[0] != '-' || !a[1] || a[2] || !v)
            usage();
        i++;
        switch (a[1]) {
        case 'T':
            opt.target = !strcmp(v, "signalr") ? T_SIGNALR : !strcmp(v, "nchan") ? T_NCHAN : !strcmp(v, "pushpin") ? T_PUSHPIN : (usage(), T_SIGNALR);
            break;
        case 'X':
            opt.transport = !strcmp(v, "sse") ? X_SSE : !strcmp(v, "lp") ? X_LP : (usage(), X_SSE);
            break;
        case 'p': opt.n_ports = parse_ports(v, opt.ports); break;
        case 'P': opt.n_pub_ports = parse_ports(v, opt.pub_ports); break;
        case 'n': opt.n = atoi(v); break;
        case 'c': opt.concurrency = atoi(v); break;
        case 'r':
            opt.n_rates = 0;
            for (const char *p = v; *p && opt.n_rates < MAX_RATES;) {
                char *end;
                opt.rates[opt.n_rates++] = strtod(p, &end);
                if (end == p)
                    usage();
                p = *end == ',' ? end + 1 : end;
            }
            break;
        case 's': opt.size = atoi(v); break;
        case 'b': opt.batch = atoi(v); break;
        case 'k': opt.pub_conns = atoi(v); break;
        case 'w': opt.warmup = atof(v); break;
        case 'm': opt.measure = atof(v); break;
        case 'd': opt.drain = atof(v); break;
        case 'S': opt.settle = atof(v); break;
        case 't': opt.connect_timeout = atof(v); break;
        case 'H': opt.path = v; break;
        case 'C': opt.channel = v; break;
        case 'Q': opt.psql = v; break;
        case 'L': opt.label = v; break;
        case 'E': opt.echo = atoi(v); break;
        default: usage();
        }
    }
    if (opt.n_ports <= 0 || opt.n < 1 || opt.concurrency < 1 || opt.size < 32 || opt.size > 4000 ||
        opt.batch < 1 || opt.pub_conns < 1)
        usage();
    if (opt.n_rates && (opt.target != T_SIGNALR || opt.echo) && opt.n_pub_ports <= 0 && !(opt.echo && opt.target == T_SIGNALR))
        usage();
    if (opt.echo && opt.target == T_PUSHPIN) {
        fprintf(stderr, "loadgen: echo is not implemented for Pushpin (its origin here holds one channel)\n");
        return 2;
    }
    /* channel / hub names go into SQL and JSON unescaped: keep them to a safe alphabet */
    for (const char *p = opt.channel; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            usage();

    /* descriptors: one per subscriber plus set-up connections and publishers */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if ((rlim_t)opt.n + (rlim_t)opt.concurrency * 2 + (rlim_t)opt.pub_conns + 32 > rl.rlim_cur) {
            fprintf(stderr, "loadgen: %d subscribers need more descriptors than the limit %llu\n", opt.n,
                    (unsigned long long)rl.rlim_cur);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    ep = epoll_create1(EPOLL_CLOEXEC);

    subs = xcalloc((size_t)opt.n, sizeof *subs);
    for (int i = 0; i < opt.n; i++) {
        subs[i].idx = i;
        subs[i].main.fd = subs[i].ctl.fd = -1;
    }

    /* ---- connect phase ---- */
    sample s_base, s_conn;
    take_sample(&s_base, 1);
    int64_t t0 = now_us(), deadline = t0 + (int64_t)(opt.connect_timeout * 1e6);
    int64_t last_progress = t0;
    while (!stop_signal && (n_waiting_next < opt.n || n_setup > 0) && now_us() < deadline) {
        while (n_waiting_next < opt.n && n_setup < opt.concurrency)
            sub_begin(&subs[n_waiting_next++]);
        loop_once(5);
        int64_t t = now_us();
        /* per-subscriber set-up limit */
        if (t - last_progress > 1000000) {
            last_progress = t;
            for (int i = 0; i < n_waiting_next; i++)
                if (subs[i].phase == S_SETUP && t - subs[i].t_start > (int64_t)(opt.setup_timeout * 1e6))
                    sub_fail(&subs[i], "set-up timeout");
            progress("connect: %d up, %d setting up, %d failed", n_up, n_setup, n_failed);
        }
    }
    for (int i = 0; i < n_waiting_next; i++)
        if (subs[i].phase == S_SETUP)
            sub_fail(&subs[i], "connect phase over");
    int64_t t_conn_end = now_us();
    take_sample(&s_conn, 0);
    double conn_s = (double)(t_conn_end - t0) / 1e6;
    printf("connect label=%s target=%s transport=%s subs=%d ok=%d failed=%d total_s=%.3f rate_per_s=%.0f "
           "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f connect_errors=%llu",
           opt.label, target_name(), opt.transport == X_SSE ? "sse" : "lp", opt.n, n_up, n_failed, conn_s,
           conn_s > 0 ? n_up / conn_s : 0, hist_ms(&h_connect, .5), hist_ms(&h_connect, .9),
           hist_ms(&h_connect, .99), (double)h_connect.max / 1000.0, (unsigned long long)hstats.connect_errors);
    print_cpu(&s_base, &s_conn);
    {
        double tck = (double)sysconf(_SC_CLK_TCK);
        long long ticks = 0;
        for (int i = 0; i < n_pidsets; i++)
            ticks += s_conn.ticks[i] - s_base.ticks[i];
        printf(" server_cpu_us_per_conn=%.0f", n_up ? (double)ticks / tck * 1e6 / n_up : 0);
    }
    printf("\n");
    fflush(stdout);

    /* ---- idle sample (S2) ---- */
    uint64_t due_base = 0;
    run_until(now_us() + (int64_t)(opt.settle * 1e6), 0, 0, &due_base);
    sample s_idle;
    take_sample(&s_idle, 1);
    printf("idle label=%s target=%s transport=%s subs=%d alive=%d", opt.label, target_name(),
           opt.transport == X_SSE ? "sse" : "lp", opt.n, n_up);
    long long pss_total = 0;
    for (int i = 0; i < n_pidsets; i++) {
        long long d = s_idle.pss[i] - s_base.pss[i];
        printf(" pss_%s_kib=%lld kib_per_sub_%s=%.2f", pidsets[i].name, s_idle.pss[i], pidsets[i].name,
               n_up ? (double)d / n_up : 0);
        pss_total += d;
    }
    printf(" kib_per_sub_all=%.2f", n_up ? (double)pss_total / n_up : 0);
    print_cpu(&s_conn, &s_idle);
    printf("\n");
    fflush(stdout);

    /* ---- rate steps ---- */
    if (opt.n_rates)
        pubs_init();
    for (int r = 0; r < opt.n_rates && !stop_signal; r++) {
        double rate = opt.rates[r];
        /* bitmaps sized for the window (with 20 % headroom; later seqs are simply not tracked) */
        uint64_t span = (uint64_t)(rate * opt.measure * 1.2) + 16;
        for (int i = 0; i < opt.n; i++) {
            free(subs[i].seen);
            subs[i].seen = subs[i].phase == S_UP ? xcalloc((size_t)(span / 8 + 1), 1) : NULL;
        }
        memset(&win.lat, 0, sizeof win.lat);
        win.deliveries = win.dups = 0;
        int up_at_start = n_up, dropped_at_start = n_dropped;
        uint64_t sent0 = pub_sent, perr0 = pub_errors, pollerr0 = poll_errors;
        due_base = 0;
        int64_t ts = now_us();
        /* warm-up: published, not counted */
        win.active = 0;
        run_until(ts + (int64_t)(opt.warmup * 1e6), rate, ts, &due_base);
        win.lo = next_seq;
        win.hi = next_seq + span;
        win.active = 1;
        sample m0, m1;
        take_sample(&m0, 0);
        int64_t tm = now_us();
        run_until(tm + (int64_t)(opt.measure * 1e6), rate, ts, &due_base);
        uint64_t hi = next_seq; /* first seq after the window */
        if (hi < win.hi)
            win.hi = hi;
        take_sample(&m1, 1);
        double pub_rate = (double)(pub_sent - sent0) / ((double)(now_us() - ts) / 1e6);
        /* drain: stop publishing, keep receiving until every subscriber has the window or time is up */
        int64_t dl = now_us() + (int64_t)(opt.drain * 1e6);
        uint64_t measured = win.hi - win.lo;
        while (!stop_signal && now_us() < dl) {
            loop_once(10);
            if (win.deliveries >= (opt.echo ? measured : measured * (uint64_t)n_up) && (psql_fd < 0 || !plen))
                break;
        }
        win.active = 0;
        /* loss: measured messages that a subscriber alive at the end did not get */
        /* echo: every message is for one subscriber only */
        uint64_t expected = opt.echo ? measured : measured * (uint64_t)n_up, lost = expected > win.deliveries ? expected - win.deliveries : 0;
        int subs_with_loss = 0;
        for (int i = 0; i < opt.n; i++) {
            sub *s = &subs[i];
            if (s->phase != S_UP || !s->seen)
                continue;
            for (uint64_t k = 0; k < measured && !opt.echo; k++)
                if (!(s->seen[k >> 3] & (1u << (k & 7)))) {
                    subs_with_loss++;
                    break;
                }
        }
        printf("step label=%s target=%s transport=%s subs=%d alive=%d dropped=%d rate=%g size=%d batch=%d "
               "pub_rate=%.1f measured_msgs=%llu expected=%llu delivered=%llu lost=%llu loss_pct=%.3f "
               "subs_with_loss=%d dups=%llu deliveries_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
               "pub_errors=%llu poll_errors=%llu",
               opt.label, target_name(), opt.transport == X_SSE ? "sse" : "lp", opt.n, n_up,
               n_dropped - dropped_at_start, rate, opt.size, opt.batch, pub_rate, (unsigned long long)measured,
               (unsigned long long)expected, (unsigned long long)win.deliveries, (unsigned long long)lost,
               expected ? 100.0 * (double)lost / (double)expected : 0, subs_with_loss,
               (unsigned long long)win.dups, (double)win.deliveries / opt.measure, hist_ms(&win.lat, .5),
               hist_ms(&win.lat, .9), hist_ms(&win.lat, .99), (double)win.lat.max / 1000.0,
               (unsigned long long)(pub_errors - perr0), (unsigned long long)(poll_errors - pollerr0));
        print_cpu(&m0, &m1);
        printf("\n");
        fflush(stdout);
        progress("rate %g: %llu/%llu delivered, p99 %.1f ms, %d subscribers up (%d at start)", rate,
                 (unsigned long long)win.deliveries, (unsigned long long)expected, hist_ms(&win.lat, .99), n_up,
                 up_at_start);
    }

    /* ---- teardown ---- */
    if (psql_fd >= 0) {
        int64_t dl = now_us() + 5000000;
        while (plen && now_us() < dl) {
            psql_flush();
            usleep(10000);
        }
        close(psql_fd);
        int st;
        if (waitpid(psql_pid, &st, 0) > 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
            progress("psql exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    for (int i = 0; i < n_pubs; i++)
        hc_free(&pubs[i].c);
    free(pubs);
    for (int i = 0; i < opt.n; i++) {
        hc_free(&subs[i].main);
        hc_free(&subs[i].ctl);
        free(subs[i].seen);
    }
    free(subs);
    free(pbuf);
    free(retries);
    close(ep);
    printf("end label=%s failed=%d dropped=%d io_errors=%llu interrupted=%d\n", opt.label, n_failed, n_dropped,
           (unsigned long long)hstats.io_errors, stop_signal ? 1 : 0);
    return stop_signal ? 130 : (n_failed || n_dropped) ? 1 : 0;
}
