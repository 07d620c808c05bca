/*
 * sr_exchange.h — one HTTP request and the channel its response goes back on.
 *
 * In FastCGI mode the response is framed as FCGI_STDOUT records followed by FCGI_END_REQUEST on
 * the web server's connection; in CGI mode it is written raw to stdout. Framing is done here and
 * nowhere else. An exchange is answered either at once by the request thread that read it
 * (sr_exchange_respond, blocking writes) or handed to the event loop, which writes queued bytes
 * without blocking (sr_exchange_write_some) until the request ends.
 */
#ifndef SR_EXCHANGE_H
#define SR_EXCHANGE_H

#include <jansson.h>

#include "sr_buf.h"
#include "sr_http.h"

typedef struct sr_exchange {
    sr_http_request req;
    int in_fd;      /* FastCGI connection (read for hang-up), or -1 in CGI mode */
    int out_fd;     /* where the response goes: the FastCGI connection, or 1 in CGI mode */
    int request_id; /* FastCGI request id; 0 = raw CGI output */
    sr_buf pending; /* framed bytes not yet written */
    int ended;      /* the end of the response has been queued */
    char *user;     /* the user the request's bearer token authenticates, or NULL (owned) */
    json_t *claims; /* that token's claims, or NULL (owned) */
    sr_buf extra_headers; /* "Name: value\r\n" lines every response of this request carries
                             (CORS); added by sr_exchange_decorate() */
} sr_exchange;

/** Creates an exchange for a FastCGI request on connection @p fd (taken) or, with fd -1, for
 *  the CGI request of this process. Takes ownership of @p req's contents. */
sr_exchange *sr_exchange_new(sr_http_request *req, int fd, int request_id);

/** Queues response bytes (framed as needed). */
void sr_exchange_queue(sr_exchange *ex, const void *p, size_t n);
/** Queues the end of the response (FastCGI: empty STDOUT + END_REQUEST). */
void sr_exchange_queue_end(sr_exchange *ex);

/** Writes everything queued, blocking. Returns 0, or -1 when the peer is gone. */
int sr_exchange_write_all(sr_exchange *ex);
/** Writes what the socket takes now. Returns 1 when nothing is left queued, 0 when the socket
 *  is full (wait for EPOLLOUT), -1 when the peer is gone. The fd must be non-blocking. */
int sr_exchange_write_some(sr_exchange *ex);

/** Adds the exchange's extra headers to a response about to be written for it. */
void sr_exchange_decorate(const sr_exchange *ex, sr_http_response *res);

/** Serialises @p res completely (decorated), writes it blocking, and frees the exchange. */
void sr_exchange_respond(sr_exchange *ex, const sr_http_response *res);
/** Shorthand: a response with a text/plain body (may be NULL for an empty one). */
void sr_exchange_respond_text(sr_exchange *ex, int status, const char *text);

/** Closes the connection and frees everything. */
void sr_exchange_free(sr_exchange *ex);

#endif
