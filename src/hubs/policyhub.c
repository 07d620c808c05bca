/*
 * policyhub.c — two hubs for the authorization tests (served only with SIGNALR_TEST_HUBS=1):
 * /Hubs/Policy, open to anyone but with method-level policies (an authenticated user, a role,
 * a claim value), as [Authorize] on single methods of an ASP.NET hub; and /Hubs/Members, whose
 * hub-level policy requires the role "member", as [Authorize(Roles = "member")] on the class.
 * Each method answers with the caller's user id, so a test sees who the server thinks it is.
 * Join surfaces the library's own group-limit text as a hub error, which /Hubs/Test's JoinGroup
 * replaces with its own.
 */
#include "hubs.h"

static const sr_policy any_user = {.authenticated = 1};
static const sr_policy admins = {.authenticated = 1, .role = "admin"};
static const sr_policy writers = {
    .authenticated = 1, .claim_type = "scope", .claim_value = "chat.write"};
static const sr_policy members = {.authenticated = 1, .role = "member"};

static int who_am_i(sr_call *call, json_t *args)
{
    (void)args;
    const char *user = sr_user_id(call);
    sr_return_new(call, user ? json_string(user) : json_null());
    return SR_OK;
}

static int join(sr_call *call, json_t *args)
{
    const char *group;
    if (sr_args(call, args, "s", &group) != SR_OK)
        return SR_ERR_ARGS;
    int rc = sr_group_add(call, sr_connection_id(call), group);
    /* The library's explanation (limit reached, bad name) goes to the client as a HubException. */
    return rc == SR_ERR_INVALID ? SR_ERR_HUB : rc;
}

static const sr_method policy_methods[] = {
    {.name = "Public", .fn = who_am_i, .arity = 0},
    {.name = "AnyUser", .fn = who_am_i, .arity = 0, .policy = &any_user},
    {.name = "AdminOnly", .fn = who_am_i, .arity = 0, .policy = &admins},
    {.name = "NeedsScope", .fn = who_am_i, .arity = 0, .policy = &writers},
    {.name = "Join", .fn = join, .arity = 1},
    {.name = NULL},
};

const sr_hub policy_hub = {.path = "/Hubs/Policy", .methods = policy_methods};

const sr_hub members_hub = {.path = "/Hubs/Members", .methods = policy_methods, .policy = &members};
