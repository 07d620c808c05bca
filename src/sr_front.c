/*
 * sr_front.c — FastCGI accepting threads and the CGI request reader (see sr_front.h).
 *
 * DESIGN: each accepting thread loops on FCGX_Accept_r with a freshly allocated FCGX_Request
 * (FCGX_Accept_r finishes the request it is given, so reusing one would end a request that was
 * handed on), without a mutex around the accept (Linux accepts concurrently; a mutex would also
 * serialise parameter parsing). After reading the parameters and body it calls FCGX_Free(req, 0),
 * which releases libfcgi's buffers but keeps the connection open, and hands the socket to an
 * sr_exchange; from then on libfcgi is out of the picture (fcgi-parking.md §2, §7).
 * The handler runs on the accepting thread, so a slow hub method delays only that thread.
 */
#include "config.h"

#include "sr_front.h"

#include <fcgiapp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sr_db.h"
#include "sr_log.h"
#include "sr_mem.h"

static atomic_int stopping;

typedef struct front_args {
    int listen_fd;
    size_t max_body;
    sr_front_handler handler;
} front_args;

int sr_front_inherited(void)
{
    return !FCGX_IsCGI();
}

int sr_front_listen(const char *spec)
{
    int fd = FCGX_OpenSocket(spec, 1024);
    if (fd < 0)
        sr_log_error("cannot listen on %s", spec);
    return fd;
}

static char **copy_env(char **envp)
{
    size_t n = 0;
    while (envp && envp[n])
        n++;
    char **env = sr_xcalloc(n + 1, sizeof *env);
    for (size_t i = 0; i < n; i++)
        env[i] = sr_xstrdup(envp[i]);
    return env;
}

/* Reads the whole body; beyond max_body the rest is read and dropped so that the web server's
 * socket is drained (closing with unread data would reset the connection). */
static void read_body(FCGX_Stream *in, size_t max_body, sr_buf *body, int *too_large)
{
    char chunk[8192];
    int n;
    *too_large = 0;
    while ((n = FCGX_GetStr(chunk, sizeof chunk, in)) > 0) {
        if (!*too_large && body->len + (size_t)n <= max_body)
            sr_buf_append(body, chunk, (size_t)n);
        else {
            *too_large = 1;
            sr_buf_fini(body);
        }
    }
}

static void *accept_loop(void *arg)
{
    front_args *fa = arg;
    while (!atomic_load(&stopping)) {
        FCGX_Request *r = sr_xcalloc(1, sizeof *r);
        if (FCGX_InitRequest(r, fa->listen_fd, 0) != 0) {
            free(r);
            sr_log_error("FCGX_InitRequest failed");
            sleep(1);
            continue;
        }
        if (FCGX_Accept_r(r) < 0) {
            FCGX_Free(r, 1);
            free(r);
            if (atomic_load(&stopping))
                break;
            /* A failed accept (EMFILE, a peer that vanished mid-parameters) must not spin. */
            usleep(10000);
            continue;
        }
        sr_buf body = SR_BUF_INIT;
        int too_large;
        read_body(r->in, fa->max_body, &body, &too_large);
        char **env = copy_env(r->envp);
        int fd = r->ipcFd;
        int request_id = r->requestId;
        FCGX_Free(r, 0);
        free(r);
        sr_http_request req;
        size_t body_len = body.len;
        sr_http_request_init(&req, env, sr_buf_take(&body), body_len, too_large);
        fa->handler(sr_exchange_new(&req, fd, request_id));
    }
    sr_db_thread_close();
    return NULL;
}

int sr_front_start(int listen_fd, int threads, size_t max_body, sr_front_handler h)
{
    static front_args fa;
    fa.listen_fd = listen_fd;
    fa.max_body = max_body;
    fa.handler = h;
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, accept_loop, &fa);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            sr_log_error("cannot start request thread %d: %s", i, strerror(rc));
            return -1;
        }
    }
    return 0;
}

void sr_front_stop(void)
{
    atomic_store(&stopping, 1);
}

extern char **environ;

sr_exchange *sr_front_cgi_exchange(size_t max_body)
{
    sr_buf body = SR_BUF_INIT;
    int too_large = 0;
    const char *cl = getenv("CONTENT_LENGTH");
    long want = cl ? atol(cl) : 0;
    if (want < 0)
        want = 0;
    char chunk[8192];
    long got = 0;
    while (got < want) {
        size_t ask = (size_t)(want - got) < sizeof chunk ? (size_t)(want - got) : sizeof chunk;
        ssize_t n = read(STDIN_FILENO, chunk, ask);
        if (n <= 0)
            break;
        got += n;
        if (!too_large && body.len + (size_t)n <= max_body)
            sr_buf_append(&body, chunk, (size_t)n);
        else {
            too_large = 1;
            sr_buf_fini(&body);
        }
    }
    sr_http_request req;
    size_t body_len = body.len;
    sr_http_request_init(&req, copy_env(environ), sr_buf_take(&body), body_len, too_large);
    return sr_exchange_new(&req, -1, 0);
}
