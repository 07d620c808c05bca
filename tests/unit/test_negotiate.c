/*
 * test_negotiate.c — negotiate version selection and the response body (protocol.md §1).
 */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sr_negotiate.h"
#include "tap.h"

static void version_case_min(const char *query, int min, int want, const char *want_error)
{
    char error[200] = "";
    int got = sr_negotiate_version(query, min, error, sizeof error);
    is_int(got, want, "version for query '%s' (minimum %d)", query, min);
    if (want_error)
        is_str(error, want_error, "error text for query '%s'", query);
}

static void version_case(const char *query, int want, const char *want_error)
{
    version_case_min(query, 0, want, want_error);
}

static void check_body(int version)
{
    char *text = sr_negotiate_body(version, "AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB");
    json_error_t err;
    json_t *b = json_loads(text, 0, &err);
    ok(json_is_object(b), "v%d body is a JSON object", version);
    is_int(json_integer_value(json_object_get(b, "negotiateVersion")), version,
           "v%d negotiateVersion", version);
    ok(json_is_integer(json_object_get(b, "negotiateVersion")),
       "v%d negotiateVersion is a number", version);
    is_str(json_string_value(json_object_get(b, "connectionId")), "AAAAAAAAAAAAAAAAAAAAAA",
           "v%d connectionId", version);
    if (version >= 1)
        is_str(json_string_value(json_object_get(b, "connectionToken")),
               "BBBBBBBBBBBBBBBBBBBBBB", "v1 carries the token");
    else
        ok(json_object_get(b, "connectionToken") == NULL, "v0 has no connectionToken");
    ok(json_object_get(b, "useStatefulReconnect") == NULL, "v%d never offers stateful reconnect",
       version);
    json_t *t = json_object_get(b, "availableTransports");
    is_int((long long)json_array_size(t), 2, "v%d two transports offered", version);
    json_t *sse = json_array_get(t, 0);
    is_str(json_string_value(json_object_get(sse, "transport")), "ServerSentEvents",
           "v%d ServerSentEvents preferred", version);
    json_t *sse_formats = json_object_get(sse, "transferFormats");
    is_int((long long)json_array_size(sse_formats), 1, "v%d one format for the stream", version);
    is_str(json_string_value(json_array_get(sse_formats, 0)), "Text",
           "v%d ServerSentEvents carries Text only", version);
    json_t *lp = json_array_get(t, 1);
    is_str(json_string_value(json_object_get(lp, "transport")), "LongPolling",
           "v%d LongPolling offered", version);
    json_t *formats = json_object_get(lp, "transferFormats");
    is_int((long long)json_array_size(formats), 2, "v%d two transfer formats", version);
    is_str(json_string_value(json_array_get(formats, 0)), "Text", "v%d Text first", version);
    is_str(json_string_value(json_array_get(formats, 1)), "Binary", "v%d then Binary", version);
    ok(strchr(text, '\n') == NULL, "v%d body is compact", version);
    json_decref(b);
    free(text);
}

int main(void)
{
    version_case("", 0, NULL);
    version_case("negotiateVersion=1", 1, NULL);
    version_case("NEGOTIATEVERSION=1", 1, NULL);
    version_case("id=x&negotiateversion=0", 0, NULL);
    version_case("negotiateVersion=7", 1, NULL);
    version_case("negotiateVersion=abc", -1, "The client requested a non-integer protocol version.");
    version_case("negotiateVersion=1.0", -1, "The client requested a non-integer protocol version.");
    version_case("negotiateVersion=", -1, "The client requested a non-integer protocol version.");
    version_case("negotiateVersion=99999999999999999999", -1,
                 "The client requested a non-integer protocol version.");
    version_case("negotiateVersion=-1", -1,
                 "The client requested version '-1', but the server does not support this "
                 "version.");
    /* The default minimum: version 0 (absent, or asked for) is refused with ASP.NET's text. */
    version_case_min("", 1, -1,
                     "The client requested version '0', but the server does not support this "
                     "version.");
    version_case_min("negotiateVersion=0", 1, -1,
                     "The client requested version '0', but the server does not support this "
                     "version.");
    version_case_min("negotiateVersion=1", 1, 1, NULL);
    version_case_min("negotiateVersion=abc", 1, -1,
                     "The client requested a non-integer protocol version.");
    check_body(0);
    check_body(1);
    return done_testing();
}
