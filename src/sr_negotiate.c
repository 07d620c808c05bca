/*
 * sr_negotiate.c — POST <hub>/negotiate: creates a connection and offers the transports.
 *
 * DESIGN: follows ASP.NET's HttpConnectionDispatcher (protocol.md §1.2): the version comes from
 * the query key negotiateVersion, compared without regard to case; version errors are answered
 * with 200 and {"error": ...} and create nothing; versions above 1 are clamped to 1. The public
 * connection id and the secret connection token are independent 16-byte random values (for
 * version 0 the client uses the id as the token, so the two are equal); only a hash of the
 * token is stored. The connection row is created with its cursor at the current end of the
 * message log: it receives what is sent after it exists, nothing earlier.
 */
#include "config.h"

#include "sr_negotiate.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_conf.h"
#include "sr_db.h"
#include "sr_mem.h"
#include "sr_metrics.h"
#include "sr_http.h"
#include "sr_log.h"
#include "sr_route.h"
#include "sr_store.h"
#include "sr_token.h"

int sr_negotiate_version(const char *query, int min_version, char *error, size_t error_cap)
{
    char value[32];
    int found = sr_http_query_get(query, "negotiateVersion", 1, value, sizeof value);
    char *end = NULL;
    errno = 0;
    long v = found > 0 ? strtol(value, &end, 10) : 0;
    if (found < 0 || (found > 0 && (!value[0] || errno || *end || v < -2147483647L - 1 ||
                                    v > 2147483647L))) {
        snprintf(error, error_cap, "The client requested a non-integer protocol version.");
        return -1;
    }
    /* Version 0 has no separate connection token: the id every send names is the token, and
     * anyone who learns a connection id (group listings, logs, hub code) could act as that
     * connection (reliability-security.md §0.1). The official client has sent 1 since 2019. */
    if (v < min_version) {
        snprintf(error, error_cap,
                 "The client requested version '%ld', but the server does not support this "
                 "version.",
                 v);
        return -1;
    }
    return v >= 1 ? 1 : 0;
}

char *sr_negotiate_body(int version, const char *connection_id, const char *connection_token)
{
    /* Server order is preference order (protocol.md §10.1): a client without a transport
     * option tries the stream first and falls back to polling. */
    json_t *transports =
        json_pack("[{s:s,s:[s]},{s:s,s:[s,s]}]", "transport", "ServerSentEvents",
                  "transferFormats", "Text", "transport", "LongPolling", "transferFormats",
                  "Text", "Binary");
    json_t *body =
        json_pack("{s:i,s:s}", "negotiateVersion", version, "connectionId", connection_id);
    if (version >= 1)
        json_object_set_new(body, "connectionToken", json_string(connection_token));
    json_object_set_new(body, "availableTransports", transports);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

static void respond_text_json(sr_exchange *ex, const sr_hub *hub, char *text)
{
    sr_http_response res;
    sr_http_response_init(&res, 200);
    sr_http_response_header(&res, "Content-Type", "application/json");
    sr_http_response_no_cache(&res);
    for (const char *const *h = hub->negotiate_headers; h && h[0] && h[1]; h += 2)
        sr_http_response_header(&res, h[0], h[1]);
    sr_http_response_body(&res, text, strlen(text));
    sr_exchange_respond(ex, &res);
    sr_http_response_fini(&res);
    free(text);
}

void sr_negotiate_handle(sr_exchange *ex, const sr_hub *hub)
{
    if (strcmp(ex->req.method, "POST") != 0) {
        sr_exchange_respond_text(ex, 405, NULL);
        return;
    }
    char error[160];
    int version =
        sr_negotiate_version(ex->req.query, sr_config->min_negotiate_version, error, sizeof error);
    if (version < 0) {
        json_t *body = json_pack("{s:s}", "error", error);
        respond_text_json(ex, hub, json_dumps(body, JSON_COMPACT));
        json_decref(body);
        return;
    }
    char id[SR_ID_LEN + 1], token[SR_ID_LEN + 1];
    unsigned char hash[SR_TOKEN_HASH_BYTES];
    sr_token_random_id(id);
    if (version >= 1)
        sr_token_random_id(token);
    else
        memcpy(token, id, sizeof token);
    sr_token_hash(token, strlen(token), hash);

    PGconn *db = sr_db_thread();
    if (db && ex->user && sr_config->max_connections_per_user > 0) {
        int open = sr_store_subject_connections(db, ex->user);
        if (open >= sr_config->max_connections_per_user) {
            sr_http_response res;
            sr_http_response_init(&res, 429);
            sr_http_response_header(&res, "Content-Type", "text/plain");
            sr_http_response_header(&res, "Retry-After", "15");
            sr_http_response_body(&res, SR_STRLIT("Too many connections for this user"));
            sr_exchange_respond(ex, &res);
            sr_http_response_fini(&res);
            return;
        }
    }
    if (!db || sr_store_conn_create(db, id, hash, hub->path, version, ex->user) != 0) {
        if (db && sr_db_broken(db))
            sr_db_thread_reset();
        sr_route_unavailable(ex);
        return;
    }
    sr_log_debug("negotiated connection %s on %s (version %d)", id, hub->path, version);
    sr_metrics_add(SR_M_NEGOTIATES, 1);
    respond_text_json(ex, hub, sr_negotiate_body(version, id, token));
}
