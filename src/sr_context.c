/*
 * sr_context.c — the context document of a connection (see sr_context.h).
 *
 * DESIGN: ASP.NET gives a hub the HttpContext of the request that started the connection. Here
 * that request is long gone by the time a method runs (on another request, maybe another
 * worker), so its headers, query values and cookies are copied into a JSON document when the
 * connection is activated and stored in the connection row. Header names are stored lower-case
 * (HTTP names are case-insensitive); the first of repeated query keys wins, as for ?id=.
 * Secrets stay out: the Authorization header and the access_token query value would otherwise
 * sit in the database for the life of the connection.
 */
#include "config.h"

#include "sr_context.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sr_buf.h"

static void add_query(const char *key, const char *value, void *arg)
{
    json_t *query = arg;
    if (!strcmp(key, "access_token") || json_object_get(query, key))
        return;
    json_object_set_new(query, key, json_string(value));
}

static void add_cookies(json_t *cookies, const char *header)
{
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = p + strcspn(p, ";");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && eq > p) {
            char *name = strndup(p, (size_t)(eq - p));
            char *value = strndup(eq + 1, (size_t)(end - eq - 1));
            if (name && value && !json_object_get(cookies, name))
                json_object_set_new(cookies, name, json_string(value));
            free(name);
            free(value);
        }
        p = end;
    }
}

json_t *sr_context_from_request(const sr_http_request *req)
{
    json_t *headers = json_object(), *query = json_object(), *cookies = json_object();
    for (char **e = req->env; e && *e; e++) {
        const char *entry = *e;
        const char *eq = strchr(entry, '=');
        if (!eq)
            continue;
        sr_buf name = SR_BUF_INIT;
        if (!strncmp(entry, "HTTP_", 5)) {
            for (const char *c = entry + 5; c < eq; c++)
                sr_buf_appendc(&name, *c == '_' ? '-' : (char)tolower((unsigned char)*c));
        } else if (!strncmp(entry, "CONTENT_TYPE=", 13)) {
            sr_buf_appends(&name, "content-type");
        } else {
            continue;
        }
        if (!name.len) { /* "HTTP_=": no header name at all */
            sr_buf_fini(&name);
            continue;
        }
        if (strcmp(name.ptr, "authorization") != 0 && strcmp(name.ptr, "cookie") != 0)
            json_object_set_new(headers, name.ptr, json_string(eq + 1));
        if (!strcmp(name.ptr, "cookie"))
            add_cookies(cookies, eq + 1);
        sr_buf_fini(&name);
    }
    sr_http_query_foreach(req->query ? req->query : "", add_query, query);
    json_t *doc = json_pack("{s:o,s:o,s:o}", "headers", headers, "query", query, "cookies",
                            cookies);
    /* A request can carry far more than a connection should keep; drop whole sections, the
     * least useful first, until the document fits. */
    const char *order[] = {"cookies", "headers", "query"};
    for (size_t i = 0; i < 3; i++) {
        char *text = json_dumps(doc, JSON_COMPACT);
        size_t len = text ? strlen(text) : 0;
        free(text);
        if (len <= SR_CONTEXT_MAX)
            break;
        json_object_set_new(doc, order[i], json_object());
    }
    return doc;
}

const char *sr_context_get(const json_t *doc, const char *section, const char *name)
{
    json_t *s = json_object_get(doc, section);
    if (!s || !name)
        return NULL;
    if (strcmp(section, "headers") != 0)
        return json_string_value(json_object_get(s, name));
    const char *key;
    json_t *value;
    json_object_foreach(s, key, value)
    {
        if (!strcasecmp(key, name))
            return json_string_value(value);
    }
    return NULL;
}

int sr_context_identify(const sr_hub *hub, json_t *doc, const char *auth_user, char *user_id,
                        size_t cap)
{
    if (cap == 0)
        return 0;
    if (!hub->identify) {
        /* The default, as ASP.NET's DefaultUserIdProvider: the authenticated user. */
        if (!auth_user || strlen(auth_user) >= cap)
            return 0;
        snprintf(user_id, cap, "%s", auth_user);
        return 1;
    }
    sr_request req = {doc, NULL, auth_user};
    user_id[0] = '\0';
    int rc = hub->identify(&req, user_id, cap);
    user_id[cap - 1] = '\0';
    return rc == 1 && user_id[0] ? 1 : 0;
}

const char *sr_request_header(const sr_request *req, const char *name)
{
    return req ? sr_context_get(req->doc, "headers", name) : NULL;
}

const char *sr_request_query(const sr_request *req, const char *key)
{
    return req ? sr_context_get(req->doc, "query", key) : NULL;
}

const char *sr_request_cookie(const sr_request *req, const char *name)
{
    return req ? sr_context_get(req->doc, "cookies", name) : NULL;
}

const char *sr_request_user(const sr_request *req)
{
    return req ? req->user : NULL;
}

const char *sr_request_method(const sr_request *req)
{
    return req && req->http ? req->http->method : "";
}

const char *sr_request_path(const sr_request *req)
{
    return req && req->http ? req->http->path : "";
}

const char *sr_request_query_string(const sr_request *req)
{
    return req && req->http ? req->http->query : "";
}

const char *sr_request_body(const sr_request *req, size_t *len)
{
    *len = req && req->http ? req->http->body_len : 0;
    return req && req->http && req->http->body ? req->http->body : "";
}
