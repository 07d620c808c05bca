/*
 * fuzz_request.c — libFuzzer target for the request path after FastCGI: the input's lines up to
 * an empty line are CGI variables ("NAME=value", as libfcgi hands over FastCGI PARAMS), the rest
 * is the body. The request view, header and Accept lookups, the context document a connection
 * keeps, negotiate's version parsing and bearer-token extraction all run on it.
 */
#include "config.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sr_auth.h"
#include "sr_conf.h"
#include "sr_context.h"
#include "sr_http.h"
#include "sr_negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sr_conf conf;
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            abort();
        conf.jwt_key = "fuzzing-secret-0123456789abcdef0123456789";
        conf.jwt_leeway = 60;
        conf.log_level = 0;
        sr_config = &conf;
        if (sr_auth_init() != 0)
            abort();
        ready = 1;
    }
    size_t n_env = 0, cap = 8;
    char **env = calloc(cap + 1, sizeof *env);
    size_t i = 0;
    while (i < size) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
        if (len == 0) {
            i++;
            break;
        }
        if (n_env == cap) {
            cap *= 2;
            env = realloc(env, (cap + 1) * sizeof *env);
        }
        env[n_env] = strndup((const char *)data + i, len);
        env[++n_env] = NULL;
        i += len + (nl ? 1 : 0);
    }
    size_t body_len = size - i;
    char *body = malloc(body_len + 1);
    memcpy(body, data + i, body_len);
    body[body_len] = '\0';

    sr_http_request req;
    sr_http_request_init(&req, env, body, body_len, 0);
    (void)sr_http_header(&req, "Authorization");
    (void)sr_http_accepts(&req, "text/event-stream");
    char error[200];
    (void)sr_negotiate_version(req.query, 1, error, sizeof error);
    json_t *doc = sr_context_from_request(&req);
    (void)sr_context_get(doc, "headers", "x-test");
    (void)sr_context_get(doc, "cookies", "c");
    json_decref(doc);
    char *user = NULL;
    json_t *claims = NULL;
    (void)sr_auth_request(&req, &user, &claims);
    free(user);
    json_decref(claims);
    sr_http_request_fini(&req);
    return 0;
}
