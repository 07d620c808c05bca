/*
 * sr_exchange.c — response framing and writing for FastCGI and CGI (see sr_exchange.h).
 *
 * DESIGN: libfcgi is used only to accept a request and read its parameters and body (sr_front.c);
 * after that the worker owns the socket and writes FastCGI records itself. libfcgi's own output
 * streams write blocking and all-or-nothing, keep 16 KiB of buffers per request, and linger up
 * to 2 s in FCGX_Finish_r; none of that fits a request parked for minutes on an event loop
 * (fcgi-parking.md §2, §7). Records carry no padding (allowed by the FastCGI spec) and at most
 * 65535 bytes of content each.
 */
#include "config.h"

#include "sr_exchange.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sr_mem.h"

enum { FCGI_VERSION_1 = 1, FCGI_END_REQUEST = 3, FCGI_STDOUT = 6, FCGI_MAX_CONTENT = 65535 };

sr_exchange *sr_exchange_new(sr_http_request *req, int fd, int request_id)
{
    sr_exchange *ex = sr_xcalloc(1, sizeof *ex);
    ex->req = *req;
    memset(req, 0, sizeof *req);
    ex->in_fd = fd;
    ex->out_fd = fd >= 0 ? fd : STDOUT_FILENO;
    ex->request_id = fd >= 0 ? request_id : 0;
    return ex;
}

static void record_header(sr_exchange *ex, int type, size_t len)
{
    unsigned char h[8] = {FCGI_VERSION_1,
                          (unsigned char)type,
                          (unsigned char)(ex->request_id >> 8),
                          (unsigned char)ex->request_id,
                          (unsigned char)(len >> 8),
                          (unsigned char)len,
                          0,
                          0};
    sr_buf_append(&ex->pending, h, sizeof h);
}

void sr_exchange_queue(sr_exchange *ex, const void *p, size_t n)
{
    if (ex->in_fd < 0) {
        sr_buf_append(&ex->pending, p, n);
        return;
    }
    const char *s = p;
    while (n > 0) {
        size_t chunk = n > FCGI_MAX_CONTENT ? FCGI_MAX_CONTENT : n;
        record_header(ex, FCGI_STDOUT, chunk);
        sr_buf_append(&ex->pending, s, chunk);
        s += chunk;
        n -= chunk;
    }
}

void sr_exchange_queue_end(sr_exchange *ex)
{
    if (ex->ended)
        return;
    ex->ended = 1;
    if (ex->in_fd < 0)
        return;
    record_header(ex, FCGI_STDOUT, 0);
    record_header(ex, FCGI_END_REQUEST, 8);
    static const unsigned char body[8] = {0, 0, 0, 0, 0 /* FCGI_REQUEST_COMPLETE */, 0, 0, 0};
    sr_buf_append(&ex->pending, body, sizeof body);
}

int sr_exchange_write_all(sr_exchange *ex)
{
    size_t off = 0;
    while (off < ex->pending.len) {
        ssize_t w = write(ex->out_fd, ex->pending.ptr + off, ex->pending.len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            sr_buf_reset(&ex->pending);
            return -1;
        }
        off += (size_t)w;
    }
    sr_buf_reset(&ex->pending);
    return 0;
}

int sr_exchange_write_some(sr_exchange *ex)
{
    size_t off = 0;
    int rc = 1;
    while (off < ex->pending.len) {
        ssize_t w = write(ex->out_fd, ex->pending.ptr + off, ex->pending.len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
            break;
        }
        off += (size_t)w;
    }
    sr_buf_consume(&ex->pending, off);
    return rc;
}

void sr_exchange_decorate(const sr_exchange *ex, sr_http_response *res)
{
    if (ex->extra_headers.len)
        sr_buf_append(&res->headers, ex->extra_headers.ptr, ex->extra_headers.len);
}

void sr_exchange_respond(sr_exchange *ex, const sr_http_response *res)
{
    sr_buf out = SR_BUF_INIT;
    sr_http_response copy = *res; /* the caller keeps its response; only the view is extended */
    sr_buf headers = SR_BUF_INIT;
    sr_buf_append(&headers, res->headers.ptr, res->headers.len);
    copy.headers = headers;
    sr_exchange_decorate(ex, &copy);
    sr_http_response_serialize(&copy, &out);
    sr_buf_fini(&copy.headers);
    sr_exchange_queue(ex, out.ptr, out.len);
    sr_buf_fini(&out);
    sr_exchange_queue_end(ex);
    sr_exchange_write_all(ex);
    sr_exchange_free(ex);
}

void sr_exchange_respond_text(sr_exchange *ex, int status, const char *text)
{
    sr_http_response res;
    sr_http_response_init(&res, status);
    sr_http_response_header(&res, "Content-Type", "text/plain");
    if (text)
        sr_http_response_body(&res, text, strlen(text));
    sr_exchange_respond(ex, &res);
    sr_http_response_fini(&res);
}

void sr_exchange_free(sr_exchange *ex)
{
    if (!ex)
        return;
    if (ex->in_fd >= 0)
        close(ex->in_fd);
    else
        close(STDOUT_FILENO); /* CGI: the web server takes end of output as end of response */
    sr_http_request_fini(&ex->req);
    sr_buf_fini(&ex->pending);
    free(ex->user);
    json_decref(ex->claims);
    sr_buf_fini(&ex->extra_headers);
    free(ex);
}
