/*
 * sse_hold.c — open N idle SignalR ServerSentEvents connections and hold them (benchmark client).
 *
 * Per connection, exactly what @microsoft/signalr does for the SSE transport, minus the pings:
 *   1. POST <path>/negotiate?negotiateVersion=1 (Content-Length: 0) -> connectionToken
 *   2. GET <path>?id=<token>, Accept: text/event-stream (plus any -x headers); wait for the
 *      ":\r\n" preamble
 *   3. POST <path>?id=<token> with the handshake {"protocol":"json","version":1}\x1e;
 *      established when the stream delivers "data: {}\x1e" and the POST answered 200
 *   4. stay idle (server Pings are read and counted, nothing is sent)
 * Requests 1 and 3 each use a short-lived TCP connection with "Connection: close" (the server
 * closes first, so TIME_WAIT stays on the server side and client ports are not used up).
 * The stream is chunked by lighttpd; the byte sequences are looked for in the raw stream (with a
 * small carry-over between reads) rather than by parsing the chunk framing.
 *
 * One thread, epoll, non-blocking sockets, loopback (127.0.0.0/8) only. At most `concurrency`
 * connections are being set up at once. The run is bounded: the connect phase ends after
 * --connect-timeout seconds at the latest, then the established connections are held for
 * --hold seconds and closed. SIGINT/SIGTERM end the run early (the summary is still printed).
 * A failed connection is counted (with its reason) and never fatal.
 *
 * Output (stdout, one line each, key=value, for scripts):
 *   established ok=.. failed=.. total_s=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. ...
 *   phases negotiate_p50_ms=.. ... (per-step latencies)
 *   failures reason="..." count=..          (one line per distinct reason)
 *   hold_end alive=.. dropped=.. server_closed=.. pings=.. held_s=..
 * Progress goes to stderr once a second. Exit status 0 when every connection was established and
 * held to the end, 1 otherwise (failures, drops, interrupted), 2 for bad arguments.
 *
 * Build: gcc -O2 -Wall -Wextra -o sse_hold sse_hold.c -lm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include <time.h>
#include <unistd.h>

enum { K_CTL = 0, K_SSE = 1 };
enum { P_WAIT, P_NEGOTIATE, P_STREAM, P_HOLD, P_FAILED, P_CLOSED };
enum { F_PREAMBLE = 1, F_HS_EVENT = 2, F_HS_OK = 4, F_SSE_HEAD = 8, F_CTL_SENDING = 16,
       F_SSE_SENDING = 32 };

#define MAX_RESPONSE 16384
#define TAIL 15
#define MAX_REASONS 32

typedef struct conn {
    int ctl_fd, sse_fd;
    uint8_t phase, flags, tail_len;
    char tail[TAIL];
    double t0, t_neg, t_pre, t_hs_start, t_done;
    char *rbuf; /* response being collected (negotiate, SSE head, handshake answer) */
    uint32_t rlen, rcap;
    char *wbuf; /* request being sent */
    uint32_t wlen, woff;
    char *token;
    uint32_t pings;
} conn;

#define MAX_PORTS 8

static struct {
    struct sockaddr_in addr[MAX_PORTS]; /* connection i goes to addr[i % n_ports] */
    char host_hdr[MAX_PORTS][64];
    int n_ports;
    const char *path;
    int n, concurrency;
    double hold, connect_timeout, setup_timeout;
    int quiet;
    char extra[2048]; /* extra header lines for the stream GET (-x), each ending in CRLF */
} opt = {.path = "/Hubs/ChatRoom", .n = 1000, .concurrency = 50, .hold = 20,
         .connect_timeout = 300, .setup_timeout = 60};

static conn *conns;
static int ep;
static volatile sig_atomic_t stop_signal;
static int n_ok, n_failed, n_active, n_alive, n_dropped, n_server_closed;
static unsigned long long n_pings;
static struct {
    char text[160];
    int count;
} reasons[MAX_REASONS];
static int n_reasons, n_reasons_other, n_reported;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig) { stop_signal = sig; }

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "sse_hold: out of memory\n");
        exit(2);
    }
    return p;
}

static void count_reason(const char *text)
{
    for (int i = 0; i < n_reasons; i++)
        if (!strcmp(reasons[i].text, text)) {
            reasons[i].count++;
            return;
        }
    if (n_reasons == MAX_REASONS) {
        n_reasons_other++;
        return;
    }
    snprintf(reasons[n_reasons].text, sizeof reasons[n_reasons].text, "%s", text);
    reasons[n_reasons++].count = 1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, *fd, NULL);
        close(*fd);
        *fd = -1;
    }
}

static void free_setup(conn *c)
{
    free(c->rbuf);
    free(c->wbuf);
    free(c->token);
    c->rbuf = c->wbuf = c->token = NULL;
    c->rlen = c->rcap = c->wlen = c->woff = 0;
}

static void fail(conn *c, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    count_reason(msg);
    if (n_reported < 5) {
        n_reported++;
        fprintf(stderr, "sse_hold: connection %ld failed: %s\n", (long)(c - conns), msg);
    }
    close_fd(&c->ctl_fd);
    close_fd(&c->sse_fd);
    free_setup(c);
    c->phase = P_FAILED;
    n_failed++;
    n_active--;
}

/* A non-blocking connect to the target; registers the socket for EPOLLOUT. */
static int open_socket(conn *c, int kind)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(c, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const struct sockaddr_in *to = &opt.addr[(c - conns) % opt.n_ports];
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        fail(c, "connect (%s): %s", kind == K_SSE ? "stream" : "request", strerror(e));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT,
                             .data.u64 = ((uint64_t)(c - conns) << 1) | (uint64_t)kind};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int e = errno;
        close(fd);
        fail(c, "epoll_ctl: %s", strerror(e));
        return -1;
    }
    return fd;
}

static void set_request(conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    free(c->wbuf);
    c->wbuf = xrealloc(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(c->wbuf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->wlen = (uint32_t)n;
    c->woff = 0;
    c->rlen = 0;
}

#define HOST(c) opt.host_hdr[((c) - conns) % opt.n_ports]

static void start_negotiate(conn *c)
{
    c->t0 = now();
    c->phase = P_NEGOTIATE;
    c->flags |= F_CTL_SENDING;
    n_active++;
    set_request(c,
                "POST %s/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: %s\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n",
                opt.path, HOST(c));
    c->ctl_fd = open_socket(c, K_CTL);
}

static void start_stream(conn *c)
{
    c->phase = P_STREAM;
    c->flags |= F_SSE_SENDING;
    set_request(c,
                "GET %s?id=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                "Cache-Control: no-cache\r\n%s\r\n",
                opt.path, c->token, HOST(c), opt.extra);
    c->sse_fd = open_socket(c, K_SSE);
}

static void start_handshake(conn *c)
{
    static const char body[] = "{\"protocol\":\"json\",\"version\":1}\x1e";
    c->t_hs_start = now();
    c->flags |= F_CTL_SENDING;
    set_request(c,
                "POST %s?id=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                opt.path, c->token, HOST(c), sizeof body - 1, body);
    c->ctl_fd = open_socket(c, K_CTL);
}

static void maybe_established(conn *c)
{
    if ((c->flags & (F_HS_EVENT | F_HS_OK)) != (F_HS_EVENT | F_HS_OK))
        return;
    c->t_done = now();
    c->phase = P_HOLD;
    free_setup(c);
    n_ok++;
    n_alive++;
    n_active--;
}

/* Writes what is left of the request; then waits for input on that socket. */
static void on_writable(conn *c, int *fd, int kind)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (c->woff == 0 && getsockopt(*fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) {
        fail(c, "connect (%s): %s", kind == K_SSE ? "stream" : "request", strerror(err));
        return;
    }
    while (c->woff < c->wlen) {
        ssize_t w = send(*fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            fail(c, "send: %s", strerror(errno));
            return;
        }
        c->woff += (uint32_t)w;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                             .data.u64 = ((uint64_t)(c - conns) << 1) | (uint64_t)kind};
    epoll_ctl(ep, EPOLL_CTL_MOD, *fd, &ev);
    free(c->wbuf);
    c->wbuf = NULL;
    c->wlen = c->woff = 0;
    c->flags &= (uint8_t) ~(kind == K_SSE ? F_SSE_SENDING : F_CTL_SENDING);
}

static int append_response(conn *c, const char *p, size_t n)
{
    if (c->rlen + n > MAX_RESPONSE)
        return -1;
    if (c->rlen + n + 1 > c->rcap) {
        c->rcap = c->rlen + (uint32_t)n + 1 < 1024 ? 1024 : c->rlen + (uint32_t)n + 1;
        c->rbuf = xrealloc(c->rbuf, c->rcap);
    }
    memcpy(c->rbuf + c->rlen, p, n);
    c->rlen += (uint32_t)n;
    c->rbuf[c->rlen] = '\0';
    return 0;
}

static int status_of(const char *r)
{
    if (strncmp(r, "HTTP/1.", 7) != 0 || strlen(r) < 12)
        return -1;
    return atoi(r + 9);
}

/* Decodes a complete chunked body in place; returns its length or -1. */
static long dechunk(char *p, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        unsigned long sz = strtoul(p + in, &end, 16);
        char *crlf = memmem(p + in, n - in, "\r\n", 2);
        if (!crlf || end == p + in)
            return -1;
        in = (size_t)(crlf - p) + 2;
        if (sz == 0)
            break;
        if (in + sz > n)
            return -1;
        memmove(p + out, p + in, sz);
        out += sz;
        in += sz + 2;
        if (in > n)
            return -1;
    }
    p[out] = '\0';
    return (long)out;
}

/* The body of a complete response in c->rbuf (Connection: close: the whole thing is there). */
static char *response_body(conn *c)
{
    char *head_end = strstr(c->rbuf, "\r\n\r\n");
    if (!head_end)
        return NULL;
    *head_end = '\0';
    char *body = head_end + 4;
    int chunked = strcasestr(c->rbuf, "\ntransfer-encoding: chunked") != NULL;
    if (chunked && dechunk(body, c->rlen - (size_t)(body - c->rbuf)) < 0)
        return NULL;
    return body;
}

static void short_status(const char *r, char *out, size_t cap)
{
    size_t n = strcspn(r, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n > 60 ? 60 : n), r);
}

static void negotiate_done(conn *c)
{
    char line[64];
    int status = status_of(c->rbuf);
    short_status(c->rbuf, line, sizeof line);
    if (status != 200) {
        fail(c, "negotiate: %s", c->rlen ? line : "empty response");
        return;
    }
    char *body = response_body(c);
    char *t = body ? strstr(body, "\"connectionToken\":\"") : NULL;
    if (!t) {
        fail(c, "negotiate: no connectionToken in the answer");
        return;
    }
    t += strlen("\"connectionToken\":\"");
    size_t len = strcspn(t, "\"");
    if (len == 0 || t[len] != '"' || len > 200) {
        fail(c, "negotiate: malformed connectionToken");
        return;
    }
    /* percent-encode anything outside the URL-unreserved set */
    c->token = xrealloc(NULL, len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)t[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~')
            c->token[o++] = (char)ch;
        else
            o += (size_t)sprintf(c->token + o, "%%%02X", ch);
    }
    c->token[o] = '\0';
    c->t_neg = now();
    start_stream(c);
}

static void handshake_done(conn *c)
{
    char line[64];
    int status = status_of(c->rbuf);
    short_status(c->rbuf, line, sizeof line);
    if (status != 200) {
        fail(c, "handshake POST: %s", c->rlen ? line : "empty response");
        return;
    }
    c->flags |= F_HS_OK;
    maybe_established(c);
}

static void on_ctl_readable(conn *c, char *buf, size_t cap)
{
    for (;;) {
        ssize_t r = recv(c->ctl_fd, buf, cap, 0);
        if (r > 0) {
            if (append_response(c, buf, (size_t)r) != 0) {
                fail(c, "%s: answer larger than %d bytes",
                     c->phase == P_NEGOTIATE ? "negotiate" : "handshake POST", MAX_RESPONSE);
                return;
            }
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r < 0 && c->rlen == 0) {
            fail(c, "%s: %s", c->phase == P_NEGOTIATE ? "negotiate" : "handshake POST",
                 strerror(errno));
            return;
        }
        /* EOF (or a reset after the whole answer): the response is complete */
        close_fd(&c->ctl_fd);
        if (c->phase == P_NEGOTIATE)
            negotiate_done(c);
        else
            handshake_done(c);
        return;
    }
}

/* The tail of the previous read followed by @p p, in @p scratch; returns its length. */
static size_t with_tail(const conn *c, const char *p, size_t n, char *scratch)
{
    memcpy(scratch, c->tail, c->tail_len);
    memcpy(scratch + c->tail_len, p, n);
    return c->tail_len + n;
}

/* Searches the stream for @p pat across read boundaries. */
static const char *scan(const conn *c, const char *p, size_t n, char *scratch, const char *pat)
{
    size_t sn = with_tail(c, p, n, scratch);
    return memmem(scratch, sn, pat, strlen(pat));
}

static void keep_tail(conn *c, const char *p, size_t n)
{
    char tmp[TAIL * 2];
    size_t have = c->tail_len;
    memcpy(tmp, c->tail, have);
    size_t take = n > TAIL ? TAIL : n;
    memcpy(tmp + have, p + n - take, take);
    have += take;
    size_t keep = have > TAIL ? TAIL : have;
    memcpy(c->tail, tmp + have - keep, keep);
    c->tail_len = (uint8_t)keep;
}

static size_t count_in(const char *hay, size_t n, const char *pat)
{
    size_t k = 0, pl = strlen(pat);
    const char *p = hay, *end = hay + n;
    while ((p = memmem(p, (size_t)(end - p), pat, pl)) != NULL) {
        k++;
        p += pl;
    }
    return k;
}

static void stream_ended(conn *c, const char *why)
{
    if (c->phase == P_HOLD) {
        close_fd(&c->sse_fd);
        c->phase = P_CLOSED;
        n_alive--;
        n_dropped++;
        if (n_dropped <= 5)
            fprintf(stderr, "sse_hold: held stream %ld ended: %s\n", (long)(c - conns), why);
    } else {
        fail(c, "stream: %s", why);
    }
}

static void on_sse_data(conn *c, const char *p, size_t n, char *scratch)
{
    if (!(c->flags & F_SSE_HEAD)) {
        if (append_response(c, p, n) != 0) {
            fail(c, "stream: response head larger than %d bytes", MAX_RESPONSE);
            return;
        }
        char *head_end = strstr(c->rbuf, "\r\n\r\n");
        if (!head_end)
            return;
        int status = status_of(c->rbuf);
        if (status != 200) {
            char line[64];
            short_status(c->rbuf, line, sizeof line);
            fail(c, "stream GET: %s", line);
            return;
        }
        c->flags |= F_SSE_HEAD;
        /* what followed the head goes through the stream scanner */
        size_t body_off = (size_t)(head_end + 4 - c->rbuf);
        size_t body_len = c->rlen - body_off;
        char body[MAX_RESPONSE];
        memcpy(body, c->rbuf + body_off, body_len);
        c->rlen = 0;
        c->tail_len = 0;
        on_sse_data(c, body, body_len, scratch);
        return;
    }
    if (!(c->flags & F_PREAMBLE)) {
        if (scan(c, p, n, scratch, ":\r\n")) {
            c->flags |= F_PREAMBLE;
            c->t_pre = now();
            c->tail_len = 0;
            keep_tail(c, p, n);
            start_handshake(c);
            return;
        }
    } else if (!(c->flags & F_HS_EVENT)) {
        if (scan(c, p, n, scratch, "data: {}\x1e")) {
            c->flags |= F_HS_EVENT;
            maybe_established(c);
        } else if (scan(c, p, n, scratch, "\"error\"")) {
            fail(c, "handshake refused by the server");
            return;
        }
    } else if (c->phase == P_HOLD) {
        /* idle: count the server's Pings (and a Close, which ends the stream) */
        const char *s = scratch;
        size_t sn = with_tail(c, p, n, scratch);
        n_pings += count_in(s, sn, "{\"type\":6}");
        if (memmem(s, sn, "\"type\":7", 8)) {
            n_server_closed++;
            keep_tail(c, p, n);
            stream_ended(c, "Close message from the server");
            return;
        }
    }
    keep_tail(c, p, n);
}

static void on_sse_readable(conn *c, char *buf, size_t cap, char *scratch)
{
    for (;;) {
        ssize_t r = recv(c->sse_fd, buf, cap, 0);
        if (r > 0) {
            on_sse_data(c, buf, (size_t)r, scratch);
            if (c->sse_fd < 0 || c->phase == P_FAILED || c->phase == P_CLOSED)
                return;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        stream_ended(c, r == 0 ? "closed by the server" : strerror(errno));
        return;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
    if (n == 0)
        return 0;
    int i = (int)(p / 100.0 * n + 0.5) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

static void print_summary_line(const char *name, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf(" %s_p50_ms=%.2f %s_p99_ms=%.2f", name, pct(v, n, 50), name, pct(v, n, 99));
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sse_hold [-h host] [-p port] [-P path] [-n count] [-c concurrency]\n"
            "                [-H hold_s] [-t connect_timeout_s] [-T setup_timeout_s] [-q]\n"
            "                [-x 'Name: value' ...]\n"
            "  -h  IPv4 loopback address (127.0.0.0/8), default 127.0.0.1\n"
            "  -p  port, default 8080; a comma-separated list spreads the connections over\n"
            "      several ports (connection i goes to port i mod count)\n"
            "  -P  hub path, default /Hubs/ChatRoom\n"
            "  -n  connections, default 1000 -c  set up at most this many at once, default 50\n"
            "  -H  seconds to hold the established connections, default 20\n"
            "  -t  connect phase limit in seconds, default 300\n"
            "  -T  per-connection setup limit in seconds, default 60\n"
            "  -q  no progress lines\n"
            "  -x  an extra request header for the stream GET (repeatable), e.g. to send\n"
            "      browser-like headers\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *ports = "8080";
    int ch;
    while ((ch = getopt(argc, argv, "h:p:P:n:c:H:t:T:qx:")) != -1) {
        switch (ch) {
        case 'h': host = optarg; break;
        case 'p': ports = optarg; break;
        case 'P': opt.path = optarg; break;
        case 'n': opt.n = atoi(optarg); break;
        case 'c': opt.concurrency = atoi(optarg); break;
        case 'H': opt.hold = atof(optarg); break;
        case 't': opt.connect_timeout = atof(optarg); break;
        case 'T': opt.setup_timeout = atof(optarg); break;
        case 'q': opt.quiet = 1; break;
        case 'x': {
            size_t have = strlen(opt.extra);
            if (strpbrk(optarg, "\r\n") || !strchr(optarg, ':') ||
                have + strlen(optarg) + 3 > sizeof opt.extra) {
                fprintf(stderr, "sse_hold: bad or too long -x header: %s\n", optarg);
                return 2;
            }
            snprintf(opt.extra + have, sizeof opt.extra - have, "%s\r\n", optarg);
            break;
        }
        default: usage();
        }
    }
    if (optind != argc || opt.n < 1 || opt.concurrency < 1 ||
        opt.hold < 0 || opt.connect_timeout <= 0 || opt.setup_timeout <= 0 || opt.path[0] != '/')
        usage();
    struct in_addr ip;
    if (inet_pton(AF_INET, host, &ip) != 1 || (ntohl(ip.s_addr) >> 24) != 127) {
        fprintf(stderr, "sse_hold: %s is not an IPv4 loopback address (127.x.y.z)\n", host);
        return 2;
    }
    for (const char *p = ports; *p;) {
        char *end;
        long port = strtol(p, &end, 10);
        if (end == p || port < 1 || port > 65535 || (*end && *end != ',') ||
            opt.n_ports == MAX_PORTS)
            usage();
        struct sockaddr_in *a = &opt.addr[opt.n_ports];
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        a->sin_addr = ip;
        snprintf(opt.host_hdr[opt.n_ports], sizeof opt.host_hdr[0], "%s:%ld", host, port);
        opt.n_ports++;
        p = *end ? end + 1 : end;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Descriptors: one per held stream plus two per connection being set up. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        long need = (long)opt.n + 2L * opt.concurrency + 16;
        if ((long)rl.rlim_cur < need)
            fprintf(stderr,
                    "sse_hold: warning: descriptor limit %ld < %ld needed; expect failures\n",
                    (long)rl.rlim_cur, need);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    conns = calloc((size_t)opt.n, sizeof *conns);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0) {
        fprintf(stderr, "sse_hold: setup failed: %s\n", strerror(errno));
        return 2;
    }
    for (int i = 0; i < opt.n; i++)
        conns[i].ctl_fd = conns[i].sse_fd = -1;

    static char buf[65536], scratch[65536 + TAIL];
    struct epoll_event evs[512];
    double t_start = now(), t_connected = 0, next_progress = t_start + 1, next_scan = t_start;
    int next = 0, connect_done = 0, first_pending = 0;
    fprintf(stderr, "sse_hold: %d connections to %s:%s%s, %d at a time, hold %.0f s\n", opt.n,
            host, ports, opt.path, opt.concurrency, opt.hold);

    while (!stop_signal) {
        double t = now();
        if (!connect_done) {
            while (next < opt.n && n_active < opt.concurrency)
                start_negotiate(&conns[next++]);
            /* timeouts: every connection still being set up lies in [first_pending, next) */
            if (t >= next_scan) {
                next_scan = t + 0.25;
                int phase_over = t - t_start > opt.connect_timeout;
                while (first_pending < next && conns[first_pending].phase >= P_HOLD)
                    first_pending++;
                for (int i = first_pending; i < next; i++) {
                    conn *c = &conns[i];
                    if (c->phase >= P_HOLD)
                        continue;
                    if (phase_over || t - c->t0 > opt.setup_timeout)
                        fail(c, "timeout (%s)", c->phase == P_NEGOTIATE ? "negotiate"
                                                : !(c->flags & F_PREAMBLE) ? "waiting for the stream preamble"
                                                : "waiting for the handshake answer");
                }
                if (phase_over)
                    while (next < opt.n) {
                        conns[next].phase = P_FAILED;
                        n_failed++;
                        count_reason("not started: connect phase limit reached");
                        next++;
                    }
            }
            if (n_ok + n_failed == opt.n) {
                connect_done = 1;
                t_connected = t;
                int k = 0;
                double *lat = xrealloc(NULL, sizeof(double) * (size_t)(n_ok ? n_ok : 1));
                double *neg = xrealloc(NULL, sizeof(double) * (size_t)(n_ok ? n_ok : 1));
                double *pre = xrealloc(NULL, sizeof(double) * (size_t)(n_ok ? n_ok : 1));
                double *hs = xrealloc(NULL, sizeof(double) * (size_t)(n_ok ? n_ok : 1));
                for (int i = 0; i < opt.n; i++)
                    if (conns[i].t_done > 0) {
                        conn *c = &conns[i];
                        lat[k] = (c->t_done - c->t0) * 1e3;
                        neg[k] = (c->t_neg - c->t0) * 1e3;
                        pre[k] = (c->t_pre - c->t_neg) * 1e3;
                        hs[k] = (c->t_done - c->t_hs_start) * 1e3;
                        k++;
                    }
                qsort(lat, (size_t)k, sizeof *lat, cmp_double);
                printf("established ok=%d failed=%d total_s=%.3f rate_per_s=%.0f p50_ms=%.2f "
                       "p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
                       n_ok, n_failed, t - t_start, n_ok / (t - t_start > 0 ? t - t_start : 1),
                       pct(lat, k, 50), pct(lat, k, 90), pct(lat, k, 99), k ? lat[k - 1] : 0.0);
                printf("phases");
                print_summary_line("negotiate", neg, k);
                print_summary_line("stream_open", pre, k);
                print_summary_line("handshake", hs, k);
                printf("\n");
                for (int i = 0; i < n_reasons; i++)
                    printf("failures count=%d reason=\"%s\"\n", reasons[i].count, reasons[i].text);
                if (n_reasons_other)
                    printf("failures count=%d reason=\"(other reasons)\"\n", n_reasons_other);
                free(lat), free(neg), free(pre), free(hs);
            }
        } else if (t - t_connected >= opt.hold || n_alive == 0) {
            break;
        }
        if (!opt.quiet && t >= next_progress) {
            next_progress = t + 1;
            fprintf(stderr, "sse_hold: %5.1fs established %d/%d failed %d setting up %d alive %d\n",
                    t - t_start, n_ok, opt.n, n_failed, n_active, n_alive);
        }
        int k = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), 100);
        if (k < 0 && errno != EINTR) {
            fprintf(stderr, "sse_hold: epoll_wait: %s\n", strerror(errno));
            break;
        }
        for (int i = 0; i < k; i++) {
            conn *c = &conns[evs[i].data.u64 >> 1];
            int kind = (int)(evs[i].data.u64 & 1);
            int *fd = kind == K_SSE ? &c->sse_fd : &c->ctl_fd;
            if (*fd < 0 || c->phase == P_FAILED || c->phase == P_CLOSED)
                continue; /* closed earlier in this batch */
            if (c->flags & (kind == K_SSE ? F_SSE_SENDING : F_CTL_SENDING)) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    on_writable(c, fd, kind);
                continue;
            }
            if (kind == K_SSE)
                on_sse_readable(c, buf, sizeof buf, scratch);
            else
                on_ctl_readable(c, buf, sizeof buf);
        }
    }

    double held = connect_done ? now() - t_connected : 0;
    if (!connect_done) {
        printf("established ok=%d failed=%d total_s=%.3f incomplete=1\n", n_ok, n_failed,
               now() - t_start);
    }
    for (int i = 0; i < opt.n; i++) {
        close_fd(&conns[i].ctl_fd);
        close_fd(&conns[i].sse_fd);
        free_setup(&conns[i]);
    }
    printf("hold_end alive=%d dropped=%d server_closed=%d pings=%llu held_s=%.1f%s\n", n_alive,
           n_dropped, n_server_closed, n_pings, held,
           stop_signal ? " interrupted=1" : "");
    free(conns);
    close(ep);
    return n_failed || n_dropped || stop_signal ? 1 : 0;
}
