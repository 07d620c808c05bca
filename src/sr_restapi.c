/*
 * sr_restapi.c — the REST API (see sr_restapi.h; hub-features.md §E, §F).
 *
 * DESIGN: every operation is one of the SQL functions of 0005_api.sql, so a send through the
 * API, through psql or through the command line takes exactly the same path as a send from a
 * hub method (a record in the message log, delivered by whichever worker holds each
 * connection). Both generations of Azure's paths are served: /api/v1/hubs/{hub}/... (POST to a
 * target means send) and /api/hubs/{hub}/...:send?api-version=... (the version is accepted,
 * not enforced). Authentication is Azure's: a bearer JWT signed (HS256) with the access key whose
 * aud is the URL being called; anything else is 401. A hub is named by its last path segment
 * (ChatRoom for /Hubs/ChatRoom), without regard to case.
 */
#include "config.h"

#include "sr_restapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "signalr-fcgi.h"
#include "sr_buf.h"
#include "sr_conf.h"
#include "sr_context.h"
#include "sr_db.h"
#include "sr_hub.h"
#include "sr_jwt.h"
#include "sr_log.h"
#include "sr_store.h"

#define MAX_SEGMENTS 8

typedef struct api_call {
    const sr_request *req;
    sr_response *res;
    const char *method;
    char *seg[MAX_SEGMENTS];
    size_t n;
    const sr_hub *hub;
    PGconn *db;
} api_call;

static void reply(api_call *c, int status, const char *code, const char *message)
{
    sr_response_status(c->res, status);
    if (!code)
        return;
    json_t *body = json_pack("{s:s,s:s}", "code", code, "message", message);
    char *text = json_dumps(body, JSON_COMPACT);
    sr_response_header(c->res, "Content-Type", "application/json");
    sr_response_body(c->res, text, strlen(text));
    free(text);
    json_decref(body);
}

/* The hub a name refers to: a registered hub whose last path segment is the name. */
static const sr_hub *hub_named(const char *name)
{
    for (size_t i = 0; i < sr_hub_count(); i++) {
        const sr_hub *h = sr_hub_at(i);
        const char *last = strrchr(h->path, '/');
        if (last && !strcasecmp(last + 1, name))
            return h;
    }
    return NULL;
}

/* Azure's rule: aud is the URL called. Accepted with or without the query string. */
static int authorized(api_call *c)
{
    const char *auth = sr_request_header(c->req, "Authorization");
    if (!auth)
        auth = c->req->http ? sr_http_header(c->req->http, "Authorization") : NULL;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    const char *token = auth + 7;
    const sr_http_request *http = c->req->http;
    const char *https = sr_http_env(http, "HTTPS");
    const char *scheme = sr_http_env(http, "REQUEST_SCHEME");
    const char *host = sr_http_header(http, "Host");
    sr_buf url = SR_BUF_INIT, full = SR_BUF_INIT;
    sr_buf_printf(&url, "%s://%s%s",
                  scheme ? scheme : (https && !strcasecmp(https, "on") ? "https" : "http"),
                  host ? host : "", http->path);
    sr_buf_printf(&full, "%s%s%s", url.ptr, *http->query ? "?" : "", http->query);
    sr_jwt_config cfg = {.hs256_key = (const unsigned char *)sr_config->api_key,
                         .hs256_key_len = strlen(sr_config->api_key),
                         .leeway = sr_config->jwt_leeway,
                         .audience = url.ptr};
    json_t *claims = NULL;
    const char *why;
    int ok = sr_jwt_verify(token, strlen(token), &cfg, (long long)time(NULL), &claims, &why) == 0;
    if (!ok) {
        json_decref(claims);
        cfg.audience = full.ptr;
        ok = sr_jwt_verify(token, strlen(token), &cfg, (long long)time(NULL), &claims, &why) == 0;
    }
    if (!ok)
        sr_log_debug("REST API token refused: %s", why);
    json_decref(claims);
    sr_buf_fini(&url);
    sr_buf_fini(&full);
    return ok;
}

/* Runs one SQL function; maps its outcome to the HTTP answer. Returns the result (caller
 * PQclears) or NULL after answering with the error. */
static PGresult *run(api_call *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = sr_db_query(c->db, sql, n, params, NULL, NULL);
    if (r)
        return r;
    if (!strcmp(sr_db_last_state(), "22023") || !strcmp(sr_db_last_state(), "22P02")) {
        /* The function's own validation message says what is wrong with the arguments. */
        const char *msg = PQerrorMessage(c->db);
        const char *start = strstr(msg, "signalr: ");
        char text[300];
        snprintf(text, sizeof text, "%s", start ? start + 9 : "invalid argument");
        text[strcspn(text, "\n")] = '\0';
        reply(c, 400, "InvalidArgument", text);
    } else if (sr_db_broken(c->db)) {
        sr_db_thread_reset();
        sr_response_header(c->res, "Retry-After", "5");
        reply(c, 503, "ServiceUnavailable", "The database is not available right now.");
    } else {
        /* The database answered with an error: a fault here, not an outage. */
        reply(c, 500, "InternalServerError", "The operation failed; see the server log.");
    }
    return NULL;
}

static int truthy(PGresult *r)
{
    return PQntuples(r) > 0 && PQgetvalue(r, 0, 0)[0] == 't';
}

/* ?excluded=a&excluded=b as a PostgreSQL array literal, or NULL. */
static char *excluded_list(api_call *c)
{
    sr_buf lit = SR_BUF_INIT;
    const char *q = sr_request_query_string(c->req);
    size_t n = 0;
    const char *items[64];
    char values[64][64];
    const char *p = q;
    while (*p && n < 64) {
        const char *end = p + strcspn(p, "&");
        if (!strncmp(p, "excluded=", 9) && (size_t)(end - p - 9) < sizeof values[0]) {
            snprintf(values[n], sizeof values[0], "%.*s", (int)(end - p - 9), p + 9);
            if (sr_token_is_id(values[n], strlen(values[n]))) {
                items[n] = values[n];
                n++;
            }
        }
        p = *end ? end + 1 : end;
    }
    if (!n)
        return NULL;
    sr_store_array_literal(&lit, items, n);
    return sr_buf_take(&lit);
}

/* POST bodies of sends: {"target": "...", "arguments": [...]}. */
static int send_body(api_call *c, const char **target, char **arguments)
{
    size_t len;
    const char *body = sr_request_body(c->req, &len);
    json_error_t err;
    json_t *doc = json_loadb(body, len, 0, &err);
    json_t *t = json_object_get(doc, "target"), *a = json_object_get(doc, "arguments");
    if (!json_is_object(doc) || !json_is_string(t) || (a && !json_is_array(a))) {
        json_decref(doc);
        reply(c, 400, "InvalidArgument",
              "The body must be a JSON object with a string 'target' and an array 'arguments'.");
        return -1;
    }
    static _Thread_local char target_copy[257];
    snprintf(target_copy, sizeof target_copy, "%s", json_string_value(t));
    *target = target_copy;
    *arguments = a ? json_dumps(a, JSON_COMPACT) : strdup("[]");
    json_decref(doc);
    return 0;
}

static void send_to(api_call *c, const char *kind, const char *who)
{
    const char *target;
    char *arguments, *excluded = NULL;
    if (send_body(c, &target, &arguments) != 0)
        return;
    PGresult *r;
    if (!strcmp(kind, "all")) {
        excluded = excluded_list(c);
        const char *p[] = {c->hub->path, target, arguments, excluded};
        r = run(c, "SELECT signalr.send_all($1, $2, $3::jsonb, $4::text[])", 4, p);
    } else if (!strcmp(kind, "group")) {
        excluded = excluded_list(c);
        const char *p[] = {c->hub->path, who, target, arguments, excluded};
        r = run(c, "SELECT signalr.send_group($1, $2, $3, $4::jsonb, $5::text[])", 5, p);
    } else if (!strcmp(kind, "user")) {
        const char *p[] = {c->hub->path, who, target, arguments};
        r = run(c, "SELECT signalr.send_user($1, $2, $3, $4::jsonb)", 4, p);
    } else {
        const char *p[] = {c->hub->path, who, target, arguments};
        r = run(c, "SELECT signalr.send_connection($1, $2, $3, $4::jsonb)", 4, p);
    }
    if (r)
        reply(c, 202, NULL, NULL);
    PQclear(r);
    free(arguments);
    free(excluded);
}

/* HEAD-style existence checks: 200 or 404. */
static void exists(api_call *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = run(c, sql, n, params);
    if (r)
        reply(c, truthy(r) ? 200 : 404, NULL, NULL);
    PQclear(r);
}

/* A statement whose success is the whole answer. */
static void act(api_call *c, const char *sql, int n, const char *const *params, int status)
{
    PGresult *r = run(c, sql, n, params);
    if (r)
        reply(c, status, NULL, NULL);
    PQclear(r);
}

static void close_many(api_call *c, const char *filter, const char *who)
{
    char *excluded = excluded_list(c);
    const char *reason = sr_request_query(c->req, "reason");
    const char *p[] = {c->hub->path, who, excluded, reason};
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(signalr.close_connection($1, x.id, $4)) FROM signalr.connections x "
             "WHERE x.hub = signalr.hub_path($1) AND NOT x.ended AND %s "
             "AND (x.id <> ALL (COALESCE($3::text[], '{}')))",
             filter);
    act(c, sql, 4, p, 204);
    free(excluded);
}

#define IS(i, s) (c->n > (i) && !strcmp(c->seg[i], (s)))
#define M(s) (!strcmp(c->method, (s)))

/* Dispatches on the path below the hub: rest[0..n). */
static void dispatch_hub(api_call *c, char **rest, size_t n, int v1)
{
    const char *path = c->hub->path;
    const char *a = n > 1 ? rest[1] : NULL, *b = n > 3 ? rest[3] : NULL;
    int send = v1 ? M("POST") : 0;
#define REST(i, s) (n > (i) && !strcmp(rest[i], (s)))
    if (n == 0 && v1 && send) {
        send_to(c, "all", NULL);
    } else if (n == 1 && REST(0, ":send") && M("POST")) {
        send_to(c, "all", NULL);
    } else if (n == 1 && REST(0, ":closeConnections") && M("POST")) {
        close_many(c, "$2::text IS NULL", NULL);
    } else if (REST(0, "users") && n >= 2) {
        if ((n == 2 && send) || (n == 3 && REST(2, ":send") && M("POST"))) {
            send_to(c, "user", a);
        } else if (n == 2 && M("HEAD")) {
            const char *p[] = {path, a};
            exists(c, "SELECT signalr.user_exists($1, $2)", 2, p);
        } else if (n == 3 && REST(2, ":closeConnections") && M("POST")) {
            close_many(c, "x.user_id = $2", a);
        } else if (n == 3 && REST(2, "groups") && M("DELETE")) {
            const char *p[] = {path, a};
            act(c, "SELECT signalr.remove_user_from_all_groups($1, $2)", 2, p, 204);
        } else if (n == 4 && REST(2, "groups")) {
            const char *ttl = sr_request_query(c->req, "ttl");
            const char *p[] = {path, a, b, ttl};
            if (M("PUT"))
                act(c, "SELECT signalr.add_user_to_group($1, $2, $3, $4::integer)", 4, p, 200);
            else if (M("DELETE"))
                act(c, "SELECT signalr.remove_user_from_group($1, $2, $3)", 3, p, 204);
            else if (M("HEAD"))
                exists(c, "SELECT signalr.user_in_group($1, $2, $3)", 3, p);
            else
                reply(c, 405, "MethodNotAllowed", "Use PUT, DELETE or HEAD here.");
        } else {
            reply(c, 404, "NotFound", "No such API path.");
        }
    } else if (REST(0, "groups") && n >= 2) {
        if ((n == 2 && send) || (n == 3 && REST(2, ":send") && M("POST"))) {
            send_to(c, "group", a);
        } else if (n == 2 && M("HEAD")) {
            const char *p[] = {path, a};
            exists(c, "SELECT signalr.group_exists($1, $2)", 2, p);
        } else if (n == 3 && REST(2, ":closeConnections") && M("POST")) {
            close_many(c, "EXISTS (SELECT 1 FROM signalr.group_members m WHERE m.connection_id = "
                          "x.id AND m.name = $2)",
                       a);
        } else if (n == 4 && (REST(2, "connections") || REST(2, "users"))) {
            int user = REST(2, "users");
            const char *p[] = {path, b, a};
            if (M("PUT") && user) {
                act(c, "SELECT signalr.add_user_to_group($1, $2, $3)", 3, p, 200);
            } else if (M("DELETE") && user) {
                act(c, "SELECT signalr.remove_user_from_group($1, $2, $3)", 3, p, 200);
            } else if (M("PUT")) {
                PGresult *r = run(c, "SELECT signalr.add_to_group($1, $2, $3)", 3, p);
                if (r)
                    reply(c, truthy(r) ? 200 : 404, truthy(r) ? NULL : "NotFound",
                          "No such connection.");
                PQclear(r);
            } else if (M("DELETE")) {
                act(c, "SELECT signalr.remove_from_group($1, $2, $3)", 3, p, 200);
            } else {
                reply(c, 405, "MethodNotAllowed", "Use PUT or DELETE here.");
            }
        } else {
            reply(c, 404, "NotFound", "No such API path.");
        }
    } else if (REST(0, "connections") && n >= 2) {
        const char *p[] = {path, a, sr_request_query(c->req, "reason")};
        if ((n == 2 && send) || (n == 3 && REST(2, ":send") && M("POST"))) {
            send_to(c, "connection", a);
        } else if (n == 2 && M("HEAD")) {
            exists(c, "SELECT signalr.connection_exists($1, $2)", 2, p);
        } else if (n == 2 && M("DELETE")) {
            act(c, "SELECT signalr.close_connection($1, $2, $3)", 3, p, 204);
        } else if (n == 3 && REST(2, "groups") && M("DELETE")) {
            act(c, "SELECT signalr.remove_from_all_groups($1, $2)", 2, p, 204);
        } else {
            reply(c, 404, "NotFound", "No such API path.");
        }
    } else {
        reply(c, 404, "NotFound", "No such API path.");
    }
#undef REST
}

static void handle(const sr_request *req, sr_response *res)
{
    api_call call = {.req = req, .res = res, .method = sr_request_method(req)};
    api_call *c = &call;
    const char *path = sr_request_path(req) + strlen(sr_config->api_prefix);
    char *copy = strdup(path);
    for (char *s = strtok(copy, "/"); s && c->n < MAX_SEGMENTS; s = strtok(NULL, "/"))
        c->seg[c->n++] = s;
    int v1 = IS(0, "v1");
    size_t base = v1 ? 1 : 0;
    if ((c->n == base + 1 && !strcmp(c->seg[base], "health")) && (M("HEAD") || M("GET"))) {
        /* Health answers without a token, as the service's does. */
        PGconn *db = sr_db_thread();
        reply(c, db && sr_db_exec(db, "SELECT 1") == 0 ? 200 : 503, NULL, NULL);
    } else if (!authorized(c)) {
        sr_response_header(res, "WWW-Authenticate", "Bearer");
        reply(c, 401, "Unauthorized", "A bearer token signed with the access key is required.");
    } else if (c->n < base + 2 || strcmp(c->seg[base], "hubs") != 0) {
        reply(c, 404, "NotFound", "No such API path.");
    } else if (!(c->hub = hub_named(c->seg[base + 1]))) {
        reply(c, 404, "NotFound", "No such hub.");
    } else if (!(c->db = sr_db_thread())) {
        sr_response_header(res, "Retry-After", "5");
        reply(c, 503, "ServiceUnavailable", "The database is not available right now.");
    } else {
        dispatch_hub(c, c->seg + base + 2, c->n - base - 2, v1);
    }
    free(copy);
}

int sr_restapi_init(void)
{
    if (!sr_config->api_key || !*sr_config->api_key)
        return 0;
    if (sr_endpoint_register(sr_config->api_prefix, handle) != SR_OK) {
        sr_log_error("cannot mount the REST API at %s", sr_config->api_prefix);
        return -1;
    }
    sr_log_info("REST API mounted at %s", sr_config->api_prefix);
    return 0;
}
