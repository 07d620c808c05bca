/*
 * sr_hub.c — hub registry, method dispatch and the public hub API (signalr-fcgi.h).
 *
 * DESIGN: hubs are registered before any thread starts and never change afterwards, so lookups
 * need no lock. A method runs on the request thread that received the invocation, inside the
 * database transaction of that POST: everything it sends is an INSERT into the message log in
 * that transaction, so its sends and its Completion commit together, in order, or not at all.
 * Error texts follow ASP.NET's DefaultHubDispatcher/ErrorMessageHelper (protocol.md §7.5):
 * binding failures and unknown methods say "Failed to invoke 'X' due to an error on the server."
 * (unknown methods add " HubException: Method does not exist."), failures inside a method say
 * "An unexpected error occurred invoking 'X' on the server.", and the detail is appended when
 * detailed errors are on or the error is a hub error (HubException).
 */
#include "config.h"

#include "sr_hub.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sr_auth.h"
#include "sr_conf.h"
#include "sr_context.h"
#include "sr_db.h"
#include "sr_log.h"
#include "sr_store.h"
#include "sr_token.h"

#define MAX_HUBS 64
#define MAX_METHODS 4096
#define MAX_TARGET_NAME 256

static const sr_hub *hubs[MAX_HUBS];
static size_t n_hubs;

int sr_hub_register(const sr_hub *hub)
{
    if (!hub || !hub->path || hub->path[0] != '/' || !hub->methods || n_hubs == MAX_HUBS)
        return SR_ERR_INVALID;
    size_t len = strlen(hub->path);
    if (len > 1 && hub->path[len - 1] == '/')
        return SR_ERR_INVALID;
    if (sr_hub_find(hub->path, len))
        return SR_ERR_INVALID;
    size_t n = 0;
    while (n < MAX_METHODS && hub->methods[n].name)
        n++;
    if (n == MAX_METHODS)
        return SR_ERR_INVALID;
    hubs[n_hubs++] = hub;
    return SR_OK;
}

const sr_hub *sr_hub_find(const char *path, size_t len)
{
    /* ASP.NET routes without regard to case (/testHub finds /testhub), so do we. */
    for (size_t i = 0; i < n_hubs; i++)
        if (strlen(hubs[i]->path) == len && !strncasecmp(hubs[i]->path, path, len))
            return hubs[i];
    return NULL;
}

size_t sr_hub_count(void)
{
    return n_hubs;
}

const sr_hub *sr_hub_at(size_t i)
{
    return i < n_hubs ? hubs[i] : NULL;
}

void sr_call_init(sr_call *call, const sr_hub *hub, PGconn *db, const char *connection_id,
                  const char *user_id, const char *transport)
{
    memset(call, 0, sizeof *call);
    call->hub = hub;
    call->db = db;
    call->connection_id = connection_id;
    call->user_id = user_id;
    call->transport = transport;
}

void sr_call_fini(sr_call *call)
{
    json_decref(call->result);
    call->result = NULL;
    sr_buf_fini(&call->error);
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                 */

/* Walks the top level of an unpack format ("s", "so", "[ii]s", "{s:i}s?"...) alongside the
 * array; true when an element unpacked with 's' is a string containing U+0000. */
static int has_nul_bound_as_string(json_t *args, const char *fmt)
{
    size_t index = 0;
    for (const char *p = fmt; *p; index++) {
        if (*p == '[' || *p == '{') { /* a nested value: skip to its matching bracket */
            int depth = 0;
            do {
                if (*p == '[' || *p == '{')
                    depth++;
                else if (*p == ']' || *p == '}')
                    depth--;
                p++;
            } while (*p && depth > 0);
        } else {
            char kind = *p++;
            json_t *v = json_array_get(args, index);
            if (kind == 's' && json_is_string(v) &&
                strlen(json_string_value(v)) != json_string_length(v))
                return 1;
        }
        while (*p == '%' || *p == '?' || *p == '*' || *p == '!' || *p == ' ')
            p++;
    }
    return 0;
}

int sr_args(sr_call *call, json_t *args, const char *fmt, ...)
{
    json_error_t err;
    char wrapped[256];
    if (!json_is_array(args) || strlen(fmt) > sizeof wrapped - 4)
        return SR_ERR_ARGS;
    /* Strict "[...!]": as many elements as the format names, no more. */
    snprintf(wrapped, sizeof wrapped, "[%s!]", fmt);
    va_list ap;
    va_start(ap, fmt);
    int rc = json_vunpack_ex(args, &err, 0, wrapped, ap);
    va_end(ap);
    /* A C string ends at a NUL: "grp\u0000x" would silently become "grp". Such strings do not
     * bind to a string parameter ('s'); as JSON values ('o', 'O') they pass whole. */
    if (rc == 0 && has_nul_bound_as_string(args, fmt))
        rc = -1;
    if (rc != 0) {
        sr_buf_reset(&call->error);
        sr_buf_appends(&call->error,
                       "InvalidDataException: Error binding arguments. Make sure that the types "
                       "of the provided values match the types of the hub method being invoked.");
        return SR_ERR_ARGS;
    }
    return SR_OK;
}

void sr_return_new(sr_call *call, json_t *value)
{
    json_decref(call->result);
    call->result = value ? value : json_null();
}

int sr_hub_error(sr_call *call, const char *fmt, ...)
{
    va_list ap;
    sr_buf_reset(&call->error);
    va_start(ap, fmt);
    sr_buf_vprintf(&call->error, fmt, ap);
    va_end(ap);
    return SR_ERR_HUB;
}

int sr_fail(sr_call *call, const char *fmt, ...)
{
    va_list ap;
    sr_buf_reset(&call->error);
    va_start(ap, fmt);
    sr_buf_vprintf(&call->error, fmt, ap);
    va_end(ap);
    return SR_ERR_FAILED;
}

const char *sr_connection_id(const sr_call *call)
{
    return call->connection_id;
}

const char *sr_user_id(const sr_call *call)
{
    return call->user_id;
}

const char *sr_transport(const sr_call *call)
{
    return call->transport;
}

const char *sr_method_name(const sr_call *call)
{
    return call->method;
}

const char *sr_claim(const sr_call *call, const char *type)
{
    static _Thread_local char number[32];
    return call->claims && type ? sr_auth_claim(call->claims, type, number, sizeof number) : NULL;
}

sr_target sr_all(void)
{
    sr_target t = {SR_TARGET_ALL, NULL, NULL, 0, NULL, NULL, 0};
    return t;
}

sr_target sr_all_except(const char *const *connection_ids, size_t n)
{
    sr_target t = {SR_TARGET_ALL, NULL, NULL, 0, NULL, connection_ids, n};
    return t;
}

sr_target sr_caller(const sr_call *call)
{
    sr_target t = {SR_TARGET_CONNECTIONS, call->connection_id, NULL, 0, NULL, NULL, 0};
    return t;
}

sr_target sr_others(const sr_call *call)
{
    sr_target t = {SR_TARGET_ALL, NULL, NULL, 0, call->connection_id, NULL, 0};
    return t;
}

sr_target sr_client(const char *connection_id)
{
    sr_target t = {SR_TARGET_CONNECTIONS, connection_id, NULL, 0, NULL, NULL, 0};
    return t;
}

sr_target sr_clients(const char *const *connection_ids, size_t n)
{
    sr_target t = {SR_TARGET_CONNECTIONS, NULL, connection_ids, n, NULL, NULL, 0};
    return t;
}

sr_target sr_group(const char *name)
{
    sr_target t = {SR_TARGET_GROUPS, name, NULL, 0, NULL, NULL, 0};
    return t;
}

sr_target sr_groups(const char *const *names, size_t n)
{
    sr_target t = {SR_TARGET_GROUPS, NULL, names, n, NULL, NULL, 0};
    return t;
}

sr_target sr_group_except(const char *name, const char *const *connection_ids, size_t n)
{
    sr_target t = {SR_TARGET_GROUPS, name, NULL, 0, NULL, connection_ids, n};
    return t;
}

sr_target sr_others_in_group(const sr_call *call, const char *name)
{
    sr_target t = {SR_TARGET_GROUPS, name, NULL, 0, call->connection_id, NULL, 0};
    return t;
}

sr_target sr_user(const char *user_id)
{
    sr_target t = {SR_TARGET_USERS, user_id, NULL, 0, NULL, NULL, 0};
    return t;
}

sr_target sr_users(const char *const *user_ids, size_t n)
{
    sr_target t = {SR_TARGET_USERS, NULL, user_ids, n, NULL, NULL, 0};
    return t;
}

/* ------------------------------------------------------------------------------------------ */
/* Groups                                                                                     */

/* A group name is non-empty UTF-8 of at most SR_GROUP_NAME_MAX bytes without control
 * characters (they would make log lines and control records ambiguous). */
static int valid_group_name(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > SR_GROUP_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    json_t *probe = json_string(name); /* jansson validates UTF-8 */
    json_decref(probe);
    return probe != NULL;
}

static int change_group(sr_call *call, const char *connection_id, const char *name, int add)
{
    if (!valid_group_name(name)) {
        sr_buf_reset(&call->error);
        sr_buf_printf(&call->error, "Invalid group name: it must be 1 to %d bytes of UTF-8 "
                                    "without control characters.",
                      SR_GROUP_NAME_MAX);
        return SR_ERR_INVALID;
    }
    if (!connection_id || !sr_token_is_id(connection_id, strlen(connection_id))) {
        sr_buf_reset(&call->error);
        sr_buf_appends(&call->error, "Invalid connection id.");
        return SR_ERR_INVALID;
    }
    int rc = add ? sr_store_group_add(call->db, call->hub->path, connection_id, name,
                                      sr_config->max_groups_per_connection)
                 : sr_store_group_remove(call->db, connection_id, name);
    if (rc == -2) {
        sr_buf_reset(&call->error);
        sr_buf_printf(&call->error, "The connection is in %d groups already, the most allowed.",
                      sr_config->max_groups_per_connection);
        return SR_ERR_INVALID;
    }
    if (rc < 0) {
        call->send_failed = 1;
        return SR_ERR_DB;
    }
    if (rc == 0)
        return SR_OK; /* no such connection / not a member: nothing changes */
    /* Tell whichever worker holds the connection, at this point in commit order. */
    sr_buf verb = SR_BUF_INIT;
    sr_buf_printf(&verb, "%s %s", add ? "group+" : "group-", name);
    const char *targets[] = {connection_id};
    rc = sr_store_publish(call->db, call->hub->path, SR_KIND_CONTROL, targets, 1, NULL, 0,
                          verb.ptr, verb.len);
    sr_buf_fini(&verb);
    if (rc != 0) {
        call->send_failed = 1;
        return SR_ERR_DB;
    }
    return SR_OK;
}

int sr_group_add(sr_call *call, const char *connection_id, const char *name)
{
    return change_group(call, connection_id, name, 1);
}

int sr_group_remove(sr_call *call, const char *connection_id, const char *name)
{
    return change_group(call, connection_id, name, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Context                                                                                    */

const char *sr_header(const sr_call *call, const char *name)
{
    return sr_context_get(call->request, "headers", name);
}

const char *sr_query(const sr_call *call, const char *key)
{
    return sr_context_get(call->request, "query", key);
}

const char *sr_cookie(const sr_call *call, const char *name)
{
    return sr_context_get(call->request, "cookies", name);
}

json_t *sr_item(const sr_call *call, const char *key)
{
    return call->items && key ? json_object_get(call->items, key) : NULL;
}

int sr_item_set_new(sr_call *call, const char *key, json_t *value)
{
    if (!call->items || !key || !*key) {
        json_decref(value);
        return SR_ERR_INVALID;
    }
    if (value)
        json_object_set_new(call->items, key, value);
    else
        json_object_del(call->items, key);
    call->items_changed = 1;
    return SR_OK;
}

void sr_abort(sr_call *call)
{
    call->aborted = 1;
}

/* Flattens "one" + "names" into one array of borrowed strings (caller frees the array). */
static const char **flatten(const char *one, const char *const *names, size_t n, size_t *out_n)
{
    const char **all = calloc(n + 1, sizeof *all);
    size_t k = 0;
    if (!all)
        return NULL;
    if (one)
        all[k++] = one;
    for (size_t i = 0; i < n; i++)
        if (names[i])
            all[k++] = names[i];
    *out_n = k;
    return all;
}

/* Publishes @p body to @p target in the call's transaction. */
static int publish_target(sr_call *call, sr_target target, const char *body, size_t len)
{
    int rc = SR_ERR_INVALID;
    size_t n_targets = 0, n_excluded = 0;
    const char **targets = flatten(target.one, target.names, target.n_names, &n_targets);
    const char **excluded = flatten(target.except_one, target.except, target.n_except, &n_excluded);
    sr_kind kind = SR_KIND_ALL;
    if (!targets || !excluded)
        goto out;
    switch (target.kind) {
    case SR_TARGET_ALL:
        kind = SR_KIND_ALL;
        n_targets = 0;
        break;
    case SR_TARGET_CONNECTIONS:
        kind = SR_KIND_CONNECTION;
        break;
    case SR_TARGET_GROUPS:
        kind = SR_KIND_GROUP;
        break;
    case SR_TARGET_USERS:
        kind = SR_KIND_USER;
        break;
    default:
        goto out;
    }
    if (kind != SR_KIND_ALL && n_targets == 0) { /* nobody to send to: nothing to do */
        rc = SR_OK;
        goto out;
    }
    rc = sr_store_publish(call->db, call->hub->path, kind, targets, n_targets, excluded,
                          n_excluded, body, len);
    if (rc != 0) {
        call->send_failed = 1;
        rc = SR_ERR_DB;
    }
out:
    free(targets);
    free(excluded);
    return rc;
}

int sr_send(sr_call *call, sr_target target, const char *method, json_t *args)
{
    int rc = SR_ERR_INVALID;
    sr_buf record = SR_BUF_INIT;
    if (call && method && *method && strlen(method) <= MAX_TARGET_NAME &&
        (!args || json_is_array(args))) {
        sr_proto_write_invocation(&record, NULL, method, args);
        rc = publish_target(call, target, record.ptr, record.len);
    }
    sr_buf_fini(&record);
    json_decref(args);
    return rc;
}

int sr_send_raw(sr_call *call, sr_target target, const char *data, size_t len)
{
    if (!call || (!data && len))
        return SR_ERR_INVALID;
    return publish_target(call, target, data ? data : "", len);
}

int sr_hub_send(const char *hub_path, sr_target target, const char *method, json_t *args)
{
    const sr_hub *hub = hub_path ? sr_hub_find(hub_path, strlen(hub_path)) : NULL;
    PGconn *db = sr_db_thread();
    if (!hub) {
        json_decref(args);
        return SR_ERR_INVALID;
    }
    if (!db || PQtransactionStatus(db) != PQTRANS_IDLE) {
        json_decref(args);
        return db ? SR_ERR_INVALID : SR_ERR_DB;
    }
    sr_call call;
    sr_call_init(&call, hub, db, NULL, NULL, NULL);
    int rc = sr_send(&call, target, method, args);
    if (rc == SR_ERR_DB && sr_db_broken(db))
        sr_db_thread_reset();
    sr_call_fini(&call);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Dispatch                                                                                   */

const sr_method *sr_hub_method(const sr_hub *hub, const char *name)
{
    for (const sr_method *m = hub->methods; m->name; m++)
        if (!strcasecmp(m->name, name))
            return m;
    return NULL;
}

/* Filter chains: each step runs the next filter that has a hook of the kind at hand, and the
 * last step runs the method or hook itself. call->filter_depth is the position in the chain
 * (a filter calls next at most once). */
static int invoke_next(sr_call *call, json_t *args)
{
    const sr_filter *const *filters = call->hub->filters;
    while (filters && filters[call->filter_depth]) {
        const sr_filter *f = filters[call->filter_depth++];
        if (f->invoke)
            return f->invoke(call, args, invoke_next);
    }
    return call->method_fn(call, args);
}

int sr_hub_call_method(sr_call *call, sr_method_fn fn, json_t *args)
{
    call->method_fn = fn;
    call->filter_depth = 0;
    return invoke_next(call, args);
}

static int connected_next(sr_call *call)
{
    const sr_filter *const *filters = call->hub->filters;
    while (filters && filters[call->filter_depth]) {
        const sr_filter *f = filters[call->filter_depth++];
        if (f->connected)
            return f->connected(call, connected_next);
    }
    return call->hub->on_connected ? call->hub->on_connected(call) : 0;
}

static void disconnected_next(sr_call *call, const char *error)
{
    const sr_filter *const *filters = call->hub->filters;
    while (filters && filters[call->filter_depth]) {
        const sr_filter *f = filters[call->filter_depth++];
        if (f->disconnected) {
            f->disconnected(call, error, disconnected_next);
            return;
        }
    }
    if (call->hub->on_disconnected)
        call->hub->on_disconnected(call, error);
}

static void error_text(sr_buf *out, const char *lead, const char *name, const char *trail,
                       const char *detail)
{
    sr_buf_printf(out, "%s '%s' %s", lead, name, trail);
    if (detail && *detail)
        sr_buf_printf(out, " %s", detail);
}

#define BIND_FAILED "due to an error on the server."
#define UNEXPECTED "An unexpected error occurred invoking"

void sr_hub_error_text(sr_call *call, int status, const char *name, int detailed_errors,
                       sr_buf *out)
{
    const char *detail = call->error.len ? call->error.ptr : NULL;
    if (status == SR_ERR_ARGS) {
        error_text(out, "Failed to invoke", name, BIND_FAILED, detailed_errors ? detail : NULL);
    } else if (status == SR_ERR_HUB) {
        sr_buf d = SR_BUF_INIT;
        sr_buf_printf(&d, "HubException: %s", detail ? detail : "");
        error_text(out, UNEXPECTED, name, "on the server.", d.ptr);
        sr_buf_fini(&d);
    } else {
        sr_log_warn("hub %s: method %s failed: %s", call->hub->path, name,
                    detail ? detail : "(no detail)");
        error_text(out, UNEXPECTED, name, "on the server.",
                   detailed_errors ? (detail ? detail : "Exception") : NULL);
    }
}

/* The pre-dispatch checks every invocation goes through; appends an error text when the
 * invocation cannot run. */
static void check_invocation(const sr_method *m, const sr_msg *msg, int streaming,
                             int detailed_errors, const char *user, const json_t *claims,
                             sr_buf *text)
{
    const char *name = msg->target;
    size_t n_streams = json_array_size(msg->stream_ids);
    if (!m) {
        error_text(text, "Failed to invoke", name, BIND_FAILED,
                   "HubException: Method does not exist.");
    } else if (streaming && !m->stream) {
        sr_buf_printf(text,
                      "The client attempted to invoke the non-streaming '%s' method with a "
                      "streaming invocation.",
                      name);
    } else if (!streaming && m->stream) {
        sr_buf_printf(text,
                      "The client attempted to invoke the streaming '%s' method with a "
                      "non-streaming invocation.",
                      name);
    } else if (n_streams != (size_t)(m->upload ? m->streams : 0)) {
        char detail[128];
        snprintf(detail, sizeof detail, "HubException: Client sent %zu stream(s), Hub method expects %d.",
                 n_streams, m->upload ? m->streams : 0);
        error_text(text, UNEXPECTED, name, "on the server.", detail);
    } else if (m->policy && !sr_auth_allows(m->policy, user, claims)) {
        sr_buf_printf(text, "Failed to invoke '%s' because user is unauthorized", name);
    } else if (m->arity >= 0 && json_array_size(msg->arguments) != (size_t)m->arity) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "InvalidDataException: Invocation provides %zu argument(s) but target expects %d.",
                 json_array_size(msg->arguments), m->arity);
        error_text(text, "Failed to invoke", name, BIND_FAILED, detailed_errors ? detail : NULL);
    }
}

int sr_hub_check(const sr_call *call, const sr_method *m, const sr_msg *msg,
                 int detailed_errors, sr_buf *text)
{
    check_invocation(m, msg, msg->type == SR_MSG_STREAM_INVOCATION, detailed_errors,
                     call->user_id, call->claims, text);
    return text->len ? -1 : 0;
}

int sr_hub_invoke(sr_call *call, const sr_msg *msg, int detailed_errors, sr_buf *completion)
{
    const char *name = msg->target;
    const sr_method *m = sr_hub_method(call->hub, name);
    sr_buf text = SR_BUF_INIT;
    int rc = 0;
    call->method = m ? m->name : name;
    check_invocation(m, msg, 0, detailed_errors, call->user_id, call->claims, &text);
    if (!text.len) {
        int status = sr_hub_call_method(call, m->fn, msg->arguments);
        if (call->send_failed || status == SR_ERR_DB)
            rc = SR_ERR_DB;
        else if (status == SR_OK) {
            if (msg->invocation_id)
                sr_proto_write_completion_result(completion, msg->invocation_id, call->result);
        } else {
            sr_hub_error_text(call, status, name, detailed_errors, &text);
        }
    }
    if (rc == 0 && text.len && msg->invocation_id)
        sr_proto_write_completion_error(completion, msg->invocation_id, text.ptr);
    sr_buf_fini(&text);
    call->method = NULL;
    return rc;
}

int sr_hub_connected(sr_call *call)
{
    call->filter_depth = 0;
    int rc = connected_next(call);
    if (call->send_failed)
        return SR_ERR_DB;
    return rc;
}

void sr_hub_disconnected(sr_call *call, const char *error)
{
    call->filter_depth = 0;
    disconnected_next(call, error);
}
