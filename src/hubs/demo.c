/*
 * demo.c — the demo's login endpoint: GET /signalr/demo-token?name=NAME answers with a bearer
 * token for user NAME (one hour). Registered by main.c only with SIGNALR_DEMO_TOKENS=1, because
 * it hands a token to anyone who asks: it stands in for an application's real login page, to
 * show the tokens path end to end (scripts/demo.sh with DEMO_TOKENS=1).
 */
#include "hubs.h"

#include <stdlib.h>
#include <string.h>

static void demo_token(const sr_request *req, sr_response *res)
{
    const char *name = sr_request_query(req, "name");
    char *token = name ? sr_token_mint(name, 3600) : NULL;
    sr_response_header(res, "Content-Type", "text/plain");
    sr_response_header(res, "Cache-Control", "no-store");
    if (!token) {
        static const char msg[] = "Give a name (?name=...); tokens need SIGNALR_JWT_KEY.";
        sr_response_status(res, 400);
        sr_response_body(res, msg, sizeof msg - 1);
        return;
    }
    sr_response_body(res, token, strlen(token));
    free(token);
}

int demo_register(void)
{
    return sr_endpoint_register("/signalr/demo-token", demo_token);
}
