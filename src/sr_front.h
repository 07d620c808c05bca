/*
 * sr_front.h — where requests come from: a FastCGI socket served by a pool of accepting
 * threads, or the single request of a CGI process. Both produce sr_exchange objects and hand
 * them to one handler, so the rest of the worker is the same in the three ways it runs.
 */
#ifndef SR_FRONT_H
#define SR_FRONT_H

#include "sr_exchange.h"

/** Receives a new exchange and owns it from then on. Runs on the accepting thread. */
typedef void (*sr_front_handler)(sr_exchange *ex);

/** True when fd 0 is a listening socket inherited from a web server (lighttpd bin-path,
 *  mod_fcgid, spawn-fcgi). Call after FCGX_Init(). */
int sr_front_inherited(void);

/** Opens a FastCGI listening socket on "host:port", ":port" or a unix socket path. Returns the
 *  fd or -1 (logged). */
int sr_front_listen(const char *spec);

/** Starts @p threads detached threads accepting on @p listen_fd. Each reads the request's
 *  parameters and body (bodies over @p max_body are discarded and flagged) and calls @p h.
 *  Returns 0 or -1. */
int sr_front_start(int listen_fd, int threads, size_t max_body, sr_front_handler h);

/** Tells the accepting threads to stop taking requests. */
void sr_front_stop(void);

/** CGI: builds the exchange of this process's request from the environment and stdin.
 *  Returns NULL (logged) when the request cannot be read. */
sr_exchange *sr_front_cgi_exchange(size_t max_body);

#endif
