/*
 * server.c — the conformance server: the surface of the official client's functional-test
 * server (conformance-server.md §1–§3) on signalr-fcgi, so that the upstream test cases can run
 * against this implementation unchanged in substance.
 *
 * Hubs: TestHub at /testhub and /testhub-nowebsockets, HubWithAuthorization at /authorizedhub
 * (bearer token required), the raw echo endpoint at /echo. Plain endpoints: /generateJwtToken,
 * /clientresult/{connectionId}, /redirect (negotiate redirect with a counter), /echoredirect
 * (307 to /echo), /bad-negotiate (400 with a body). Every negotiate answer sets the three test
 * cookies. Objects are returned exactly as they arrived, so PascalCase stays PascalCase.
 * Run it with detailed errors on (SIGNALR_DETAILED_ERRORS=1) and a JWT key (SIGNALR_JWT_KEY),
 * as scripts/conformance-server.sh does.
 */
#include "config.h"

#include <signalr-fcgi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sr_db.h"
#include "sr_jwt.h"

#define TEST_HUB "/testhub"

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ------------------------------------------------------------------------------------------ */
/* TestHub                                                                                    */

static int echo(sr_call *call, json_t *args)
{
    json_t *message;
    if (sr_args(call, args, "o", &message) != SR_OK)
        return SR_ERR_ARGS;
    sr_return_new(call, json_incref(message));
    return SR_OK;
}

static int get_caller_connection_id(sr_call *call, json_t *args)
{
    (void)args;
    sr_return_new(call, json_string(sr_connection_id(call)));
    return SR_OK;
}

static int get_num_redirects(sr_call *call, json_t *args)
{
    (void)args;
    const char *n = sr_query(call, "numRedirects");
    if (!n)
        return sr_fail(call, "ArgumentNullException: Value cannot be null. (Parameter 's')");
    char *end;
    long v = strtol(n, &end, 10);
    if (!*n || *end)
        return sr_fail(call, "FormatException: The input string '%s' was not in a correct format.",
                       n);
    sr_return_new(call, json_integer(v));
    return SR_OK;
}

static int throw_exception(sr_call *call, json_t *args)
{
    const char *message;
    if (sr_args(call, args, "s", &message) != SR_OK)
        return SR_ERR_ARGS;
    return sr_fail(call, "InvalidOperationException: %s", message);
}

static int invoke_with_string(sr_call *call, json_t *args)
{
    const char *message;
    if (sr_args(call, args, "s", &message) != SR_OK)
        return SR_ERR_ARGS;
    return sr_send(call, sr_caller(call), "Message", json_pack("[s]", message));
}

static int send_custom_object(sr_call *call, json_t *args)
{
    json_t *object;
    if (sr_args(call, args, "o", &object) != SR_OK)
        return SR_ERR_ARGS;
    return sr_send(call, sr_caller(call), "CustomObject", json_pack("[O]", object));
}

static int stream_abc(sr_call *call, json_t *args, sr_stream *stream)
{
    (void)call;
    (void)args;
    const char *items[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        int rc = sr_stream_item(stream, json_string(items[i]));
        if (rc != SR_OK)
            return rc;
    }
    return SR_OK;
}

/* A stream that never yields; when it is cancelled it tells the client through the hub
 * context, as the ASP.NET test hub does. */
static void infinite_canceled(sr_stream *stream, void *arg)
{
    (void)arg;
    if (sr_hub_send(sr_stream_hub(stream), sr_client(sr_stream_connection_id(stream)),
                    "StreamCanceled", NULL) != SR_OK)
        fprintf(stderr, "conformance: could not send StreamCanceled\n");
    sr_stream_complete(stream, NULL);
}

static int infinite_stream(sr_call *call, json_t *args, sr_stream *stream)
{
    (void)call;
    (void)args;
    sr_stream_keep(stream, infinite_canceled, NULL);
    return SR_OK;
}

static int empty_stream(sr_call *call, json_t *args, sr_stream *stream)
{
    (void)call;
    (void)args;
    (void)stream;
    return SR_OK;
}

static int stream_throw_exception(sr_call *call, json_t *args, sr_stream *stream)
{
    (void)stream;
    const char *message;
    if (sr_args(call, args, "s", &message) != SR_OK)
        return SR_ERR_ARGS;
    return sr_fail(call, "InvalidOperationException: %s", message);
}

static int concat_start(sr_call *call, json_t *args, json_t *state)
{
    (void)call;
    (void)args;
    json_object_set_new(state, "text", json_string(""));
    return SR_OK;
}

static int concat_item(sr_call *call, size_t stream, json_t *item, json_t *state)
{
    (void)stream;
    if (!json_is_string(item))
        return sr_hub_error(call, "Expected a string item.");
    char *joined = NULL;
    if (asprintf(&joined, "%s%s", json_string_value(json_object_get(state, "text")),
                 json_string_value(item)) < 0)
        return SR_ERR_FAILED;
    json_object_set_new(state, "text", json_string(joined));
    free(joined);
    return SR_OK;
}

static int concat_end(sr_call *call, size_t stream, const char *error, json_t *state)
{
    (void)stream;
    if (error)
        return sr_hub_error(call, "%s", error);
    sr_return_new(call, json_incref(json_object_get(state, "text")));
    return SR_OK;
}

static const sr_upload_fns concat = {concat_start, concat_item, concat_end};

static int get_active_transport_name(sr_call *call, json_t *args)
{
    (void)args;
    sr_return_new(call, json_string(sr_transport(call)));
    return SR_OK;
}

static int send_complex_object(sr_call *call, json_t *args)
{
    (void)args;
    /* ByteArray and DateTime are typed as ASP.NET's byte[] and DateTime would be: bin and a
     * timestamp for MessagePack, "AQID" and "2000-01-01T00:00:00Z" for JSON. */
    static const unsigned char bytes[] = {1, 2, 3};
    sr_return_new(call, json_pack("{s:s,s:[i,i,i],s:o,s:s,s:o}", "String", "hello world",
                                  "IntArray", 1, 2, 3, "ByteArray",
                                  sr_json_binary(bytes, sizeof bytes), "Guid",
                                  "00010203-0405-0607-0706-050403020100", "DateTime",
                                  sr_json_timestamp(946684800, 0)));
    return SR_OK;
}

static int get_content_type_header(sr_call *call, json_t *args)
{
    (void)args;
    sr_return_new(call, string_or_null(sr_header(call, "Content-Type")));
    return SR_OK;
}

static int get_header(sr_call *call, json_t *args)
{
    const char *name;
    if (sr_args(call, args, "s", &name) != SR_OK)
        return SR_ERR_ARGS;
    sr_return_new(call, string_or_null(sr_header(call, name)));
    return SR_OK;
}

static int get_cookie(sr_call *call, json_t *args)
{
    const char *name;
    if (sr_args(call, args, "s", &name) != SR_OK)
        return SR_ERR_ARGS;
    sr_return_new(call, string_or_null(sr_cookie(call, name)));
    return SR_OK;
}

static const sr_method test_methods[] = {
    {.name = "Echo", .fn = echo, .arity = 1},
    {.name = "GetCallerConnectionId", .fn = get_caller_connection_id, .arity = 0},
    {.name = "GetNumRedirects", .fn = get_num_redirects, .arity = 0},
    {.name = "ThrowException", .fn = throw_exception, .arity = 1},
    {.name = "InvokeWithString", .fn = invoke_with_string, .arity = 1},
    {.name = "SendCustomObject", .fn = send_custom_object, .arity = 1},
    {.name = "Stream", .stream = stream_abc, .arity = 0},
    {.name = "InfiniteStream", .stream = infinite_stream, .arity = 0},
    {.name = "StreamingConcat", .upload = &concat, .streams = 1, .arity = 0},
    {.name = "EmptyStream", .stream = empty_stream, .arity = 0},
    {.name = "StreamThrowException", .stream = stream_throw_exception, .arity = 1},
    {.name = "GetActiveTransportName", .fn = get_active_transport_name, .arity = 0},
    {.name = "EchoComplexObject", .fn = echo, .arity = 1},
    {.name = "SendComplexObject", .fn = send_complex_object, .arity = 0},
    {.name = "GetContentTypeHeader", .fn = get_content_type_header, .arity = 0},
    {.name = "GetHeader", .fn = get_header, .arity = 1},
    {.name = "GetCookie", .fn = get_cookie, .arity = 1},
    {.name = NULL},
};

/* The test server adds these on every negotiate answer (conformance-server.md §1.2 step 5). */
static const char *const test_cookies[] = {
    "Set-Cookie", "testCookie=testValue; Path=/",
    "Set-Cookie", "testCookie2=testValue2; Path=/",
    "Set-Cookie", "expiredCookie=doesntmatter; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    NULL,
};

static const sr_hub test_hub = {
    .path = TEST_HUB, .methods = test_methods, .negotiate_headers = test_cookies};
static const sr_hub test_hub_nows = {
    .path = "/testhub-nowebsockets", .methods = test_methods, .negotiate_headers = test_cookies};

/* ------------------------------------------------------------------------------------------ */
/* HubWithAuthorization                                                                       */

static int get_user_name_identifier(sr_call *call, json_t *args)
{
    (void)args;
    sr_return_new(call, json_string(sr_user_id(call) ? sr_user_id(call) : ""));
    return SR_OK;
}

static const sr_method authorized_methods[] = {
    {.name = "Echo", .fn = echo, .arity = 1},
    {.name = "GetUserNameIdentifier", .fn = get_user_name_identifier, .arity = 0},
    {.name = NULL},
};

static const sr_hub authorized_hub = {.path = "/authorizedhub",
                                      .methods = authorized_methods,
                                      .negotiate_headers = test_cookies,
                                      .require_authentication = 1};

/* ------------------------------------------------------------------------------------------ */
/* /echo: a raw connection that sends every chunk back                                       */

static int echo_data(sr_call *call, const char *data, size_t len)
{
    return sr_send_raw(call, sr_caller(call), data, len);
}

static const sr_method no_methods[] = {{.name = NULL}};
static const sr_hub echo_endpoint = {
    .path = "/echo", .methods = no_methods, .on_data = echo_data, .negotiate_headers = test_cookies};

/* ------------------------------------------------------------------------------------------ */
/* Plain endpoints                                                                            */

static void text(sr_response *res, int status, const char *body)
{
    sr_response_status(res, status);
    sr_response_header(res, "Content-Type", "text/plain");
    sr_response_body(res, body, strlen(body));
}

static void generate_jwt_token(const sr_request *req, sr_response *res)
{
    (void)req;
    const char *key = getenv("SIGNALR_JWT_KEY");
    if (!key || !*key) {
        text(res, 500, "SIGNALR_JWT_KEY is not set");
        return;
    }
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I}", "nameid", "testuser", "iss",
                               "SignalRTestServer", "aud", "SignalRTests", "exp",
                               (json_int_t)time(NULL) + 5);
    char *token = sr_jwt_sign_hs256(claims, (const unsigned char *)key, strlen(key));
    json_decref(claims);
    sr_response_body(res, token, strlen(token));
    free(token);
}

static void client_result(const sr_request *req, sr_response *res)
{
    const char *path = sr_request_path(req);
    const char *id = strrchr(path, '/');
    json_t *result = NULL;
    char *error = NULL;
    int rc = sr_invoke_client(TEST_HUB, id ? id + 1 : "", "Result", NULL, 30000, &result, &error);
    if (rc == SR_OK) {
        char *body = json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT);
        text(res, 200, body ? body : "null");
        free(body);
    } else if (rc == SR_ERR_HUB) {
        text(res, 200, error);
    } else {
        text(res, 200, rc == SR_ERR_TIMEOUT ? "The client did not answer in time."
                                            : "The connection could not be reached.");
    }
    json_decref(result);
    free(error);
}

/* The counter is shared by every worker process (a single process in ASP.NET's test server),
 * so it lives in the database. */
static long next_redirect_number(void)
{
    PGconn *db = sr_db_thread();
    if (!db || sr_db_exec(db, "CREATE SEQUENCE IF NOT EXISTS public.conformance_redirects") != 0)
        return -1;
    PGresult *r = sr_db_query(db, "SELECT nextval('public.conformance_redirects')", 0, NULL,
                              NULL, NULL);
    long n = r ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

static void redirect(const sr_request *req, sr_response *res)
{
    const char *base = sr_request_query(req, "baseUrl");
    long n = next_redirect_number();
    if (n < 0) {
        text(res, 503, "Service Unavailable");
        return;
    }
    char url[2048];
    snprintf(url, sizeof url, "%s/testHub?numRedirects=%ld", base ? base : "", n);
    json_t *body = json_pack("{s:s}", "url", url);
    char *json = json_dumps(body, JSON_COMPACT);
    for (const char *const *h = test_cookies; h[0]; h += 2)
        sr_response_header(res, h[0], h[1]);
    sr_response_body(res, json, strlen(json));
    free(json);
    json_decref(body);
}

static void echo_redirect(const sr_request *req, sr_response *res)
{
    const char *path = sr_request_path(req), *query = sr_request_query_string(req);
    char location[2048];
    /* /echoredirect... -> /echo...: the prefix matched case-insensitively is 13 bytes. */
    snprintf(location, sizeof location, "/echo%s%s%s", path + 13, *query ? "?" : "", query);
    sr_response_status(res, 307);
    sr_response_header(res, "Location", location);
}

static void bad_negotiate(const sr_request *req, sr_response *res)
{
    (void)req;
    text(res, 400, "Some response from server");
}

int main(int argc, char **argv)
{
    if (sr_hub_register(&test_hub) || sr_hub_register(&test_hub_nows) ||
        sr_hub_register(&authorized_hub) || sr_hub_register(&echo_endpoint) ||
        sr_endpoint_register("/generateJwtToken", generate_jwt_token) ||
        sr_endpoint_register("/clientresult/", client_result) ||
        sr_endpoint_register("/redirect", redirect) ||
        sr_endpoint_register("/echoredirect", echo_redirect) ||
        sr_endpoint_register("/bad-negotiate", bad_negotiate))
        return 1;
    return sr_main(argc, argv);
}
