/*
 * sr_conf.c — option table, environment overrides and --help.
 *
 * DESIGN: a single static table describes every option (long name, environment variable,
 * default, help text, where it is stored), in the manner of lighttpd's config-key tables: the
 * parser, the environment lookup and --help all walk the same table, so an option cannot exist
 * in one and be missing from another. Values are validated here (range-checked integers), and a
 * bad one is reported with the name of the option or variable it came from.
 */
#include "config.h"

#include "sr_conf.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sr_log.h"
#include "sr_mem.h"

const sr_conf *sr_config;

typedef enum opt_type { OPT_STRING, OPT_INT, OPT_BOOL, OPT_LOG_LEVEL } opt_type;

typedef struct opt_def {
    const char *name; /* --name */
    const char *env;  /* environment variable */
    opt_type type;
    const char *def;  /* default, as text; NULL = unset */
    long min, max;    /* OPT_INT range */
    size_t offset;
    const char *help;
} opt_def;

#define OFF(field) offsetof(sr_conf, field)

static const opt_def options[] = {
    {"db", "SIGNALR_DB", OPT_STRING, NULL, 0, 0, OFF(db),
     "PostgreSQL conninfo or URI (else DATABASE_URL, else libpq's PG* variables)"},
    {"listen", "SIGNALR_LISTEN", OPT_STRING, NULL, 0, 0, OFF(listen),
     "serve FastCGI on HOST:PORT or a unix socket PATH (default: the socket inherited on fd 0, "
     "or CGI when fd 0 is not a socket)"},
    {"threads", "SIGNALR_THREADS", OPT_INT, "4", 1, 256, OFF(threads),
     "request threads per worker process"},
    {"poll-timeout", "SIGNALR_POLL_TIMEOUT", OPT_INT, "90", 1, 3600, OFF(poll_timeout),
     "seconds a long poll is held before an empty answer"},
    {"disconnect-timeout", "SIGNALR_DISCONNECT_TIMEOUT", OPT_INT, "15", 1, 3600,
     OFF(disconnect_timeout), "seconds without a poll before a connection is removed"},
    {"handshake-timeout", "SIGNALR_HANDSHAKE_TIMEOUT", OPT_INT, "15", 1, 3600,
     OFF(handshake_timeout), "seconds a new connection has to send its handshake"},
    {"keepalive-interval", "SIGNALR_KEEPALIVE_INTERVAL", OPT_INT, "15", 1, 3600,
     OFF(keepalive_interval), "seconds between the server's Pings on a Server-Sent Events stream"},
    {"client-timeout", "SIGNALR_CLIENT_TIMEOUT", OPT_INT, "30", 2, 3600, OFF(client_timeout),
     "seconds a stream's client may stay silent once it has sent a Ping"},
    {"detailed-errors", "SIGNALR_DETAILED_ERRORS", OPT_BOOL, "0", 0, 1, OFF(detailed_errors),
     "send exception details to clients (EnableDetailedErrors)"},
    {"max-message-size", "SIGNALR_MAX_MESSAGE_SIZE", OPT_INT, "32768", 1024, 16 * 1024 * 1024,
     OFF(max_message_size), "largest hub message a client may send, bytes"},
    {"max-body-size", "SIGNALR_MAX_BODY_SIZE", OPT_INT, "1048576", 1024, 64 * 1024 * 1024,
     OFF(max_body_size), "largest POST body accepted, bytes (413 above)"},
    {"retention", "SIGNALR_RETENTION", OPT_INT, "300", 30, 86400, OFF(retention),
     "seconds published messages are kept in the database"},
    {"cgi-poll-interval", "SIGNALR_CGI_POLL_INTERVAL", OPT_INT, "500", 50, 60000,
     OFF(cgi_poll_interval_ms), "CGI mode: milliseconds between table reads of a held request"},
    {"jwt-key", "SIGNALR_JWT_KEY", OPT_STRING, NULL, 0, 0, OFF(jwt_key),
     "HS256 secret that bearer tokens are signed with (at least 32 bytes); unset = no tokens"},
    {"jwt-ed25519-key", "SIGNALR_JWT_ED25519_KEY", OPT_STRING, NULL, 0, 0, OFF(jwt_ed25519_key),
     "Ed25519 public key (base64url, 32 bytes) for EdDSA tokens; use this or --jwt-key"},
    {"require-auth", "SIGNALR_REQUIRE_AUTH", OPT_BOOL, "0", 0, 1, OFF(require_auth),
     "every hub requires a valid bearer token (as [Authorize] on every hub)"},
    {"cors-origins", "SIGNALR_CORS_ORIGINS", OPT_STRING, NULL, 0, 0, OFF(cors_origins),
     "comma-separated origins (scheme://host[:port]) whose pages may connect; unset = none"},
    {"max-groups-per-connection", "SIGNALR_MAX_GROUPS_PER_CONNECTION", OPT_INT, "100", 1, 100000,
     OFF(max_groups_per_connection), "groups one connection may be in"},
    {"max-connections-per-user", "SIGNALR_MAX_CONNECTIONS_PER_USER", OPT_INT, "0", 0, 100000,
     OFF(max_connections_per_user), "open connections one user may have (0 = no limit)"},
    {"jwt-leeway", "SIGNALR_JWT_LEEWAY", OPT_INT, "60", 0, 300, OFF(jwt_leeway),
     "seconds of clock skew allowed when checking a token's exp and nbf"},
    {"jwt-issuer", "SIGNALR_JWT_ISSUER", OPT_STRING, NULL, 0, 0, OFF(jwt_issuer),
     "if set, tokens must carry exactly this iss"},
    {"jwt-audience", "SIGNALR_JWT_AUDIENCE", OPT_STRING, NULL, 0, 0, OFF(jwt_audience),
     "if set, tokens must carry this aud"},
    {"max-parallel-invocations", "SIGNALR_MAX_PARALLEL_INVOCATIONS", OPT_INT, "1", 1, 64,
     OFF(max_parallel_invocations),
     "invocations of one connection that may run at once (MaximumParallelInvocationsPerClient; "
     "a hub may set its own)"},
    {"min-negotiate-version", "SIGNALR_MIN_NEGOTIATE_VERSION", OPT_INT, "1", 0, 1,
     OFF(min_negotiate_version),
     "lowest negotiate version accepted; 0 admits pre-2019 clients whose connection id is "
     "their token"},
    {"jwt-key-id", "SIGNALR_JWT_KEY_ID", OPT_STRING, NULL, 0, 0, OFF(jwt_key_id),
     "the kid tokens may name in their header; unset = tokens naming a kid are refused"},
    {"jwt-user-claim", "SIGNALR_JWT_USER_CLAIM", OPT_STRING, "nameid,sub", 0, 0,
     OFF(jwt_user_claim), "claims naming the user (user id), comma-separated, first present wins"},
    {"api-key", "SIGNALR_API_KEY", OPT_STRING, NULL, 0, 0, OFF(api_key),
     "access key for the REST API (Azure SignalR Service's data-plane paths); unset = API off"},
    {"api-prefix", "SIGNALR_API_PREFIX", OPT_STRING, "/api/", 0, 0, OFF(api_prefix),
     "path the REST API is mounted at"},
    {"observe-prefix", "SIGNALR_OBSERVE_PREFIX", OPT_STRING, "/signalr/", 0, 0,
     OFF(observe_prefix), "path of the health and metrics endpoints (PREFIXhealth, "
                          "PREFIXmetrics); empty = not served"},
    {"log-level", "SIGNALR_LOG_LEVEL", OPT_LOG_LEVEL, "info", 0, 0, OFF(log_level),
     "error, warn, info or debug"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static int set_value(sr_conf *conf, const opt_def *o, const char *value, const char *origin,
                     FILE *err)
{
    char *field = (char *)conf + o->offset;
    switch (o->type) {
    case OPT_STRING: {
        char **s = (char **)(void *)field;
        free(*s);
        *s = value && *value ? sr_xstrdup(value) : NULL;
        return 0;
    }
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < o->min || v > o->max) {
            fprintf(err, "signalr-fcgi: %s: '%s' is not a whole number from %ld to %ld\n", origin,
                    value, o->min, o->max);
            return -1;
        }
        *(int *)(void *)field = (int)v;
        return 0;
    }
    case OPT_BOOL: {
        int v;
        if (!strcmp(value, "1") || !strcasecmp(value, "true") || !strcasecmp(value, "yes") ||
            !strcasecmp(value, "on"))
            v = 1;
        else if (!strcmp(value, "0") || !strcasecmp(value, "false") ||
                 !strcasecmp(value, "no") || !strcasecmp(value, "off") || !*value)
            v = 0;
        else {
            fprintf(err, "signalr-fcgi: %s: '%s' is not a boolean (1/0, true/false)\n", origin,
                    value);
            return -1;
        }
        *(int *)(void *)field = v;
        return 0;
    }
    case OPT_LOG_LEVEL: {
        int v = sr_log_parse_level(value);
        if (v < 0) {
            fprintf(err, "signalr-fcgi: %s: '%s' is not one of error, warn, info, debug\n",
                    origin, value);
            return -1;
        }
        *(int *)(void *)field = v;
        return 0;
    }
    }
    return -1;
}

static const opt_def *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && !strncmp(options[i].name, name, len))
            return &options[i];
    return NULL;
}

/* Option names in a file may use '_' for '-' (db_url style keys read naturally in INI files). */
static const opt_def *find_key(const char *key)
{
    char name[64];
    size_t n = strlen(key);
    if (n >= sizeof name)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        name[i] = key[i] == '_' ? '-' : key[i];
    return find_option(name, n);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Reads "key = value" lines; '#' starts a comment; a value may be "double-quoted". */
static int read_file(sr_conf *conf, const char *path, FILE *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(err, "signalr-fcgi: cannot read the configuration file %s\n", path);
        return -1;
    }
    char line[4096], origin[600];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(err, "signalr-fcgi: %s:%d: expected 'key = value'\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        const opt_def *o = find_key(key);
        if (!o) {
            fprintf(err, "signalr-fcgi: %s:%d: unknown key '%s' (see --help)\n", path, lineno,
                    key);
            rc = -1;
            break;
        }
        snprintf(origin, sizeof origin, "%s:%d: key '%s'", path, lineno, key);
        rc = set_value(conf, o, value, origin, err);
    }
    fclose(f);
    return rc;
}

int sr_conf_parse(sr_conf *conf, sr_command *cmd, int argc, char **argv, FILE *err)
{
    char origin[128];
    memset(conf, 0, sizeof *conf);
    *cmd = SR_CMD_SERVE;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].def && set_value(conf, &options[i], options[i].def, "default", err))
            return -1;
    const char *file = getenv("SIGNALR_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
    }
    if (file && *file && read_file(conf, file, err) != 0)
        return -1;
    if (getenv("DATABASE_URL") && *getenv("DATABASE_URL") && !getenv("SIGNALR_DB")) {
        free(conf->db);
        conf->db = sr_xstrdup(getenv("DATABASE_URL"));
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *v = getenv(options[i].env);
        if (v) {
            snprintf(origin, sizeof origin, "environment variable %s", options[i].env);
            if (set_value(conf, &options[i], v, origin, err))
                return -1;
        }
    }
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *cmd = SR_CMD_HELP;
            return 0;
        }
        if (!strcmp(a, "--version")) {
            *cmd = SR_CMD_VERSION;
            return 0;
        }
        if (!strcmp(a, "--check-config")) {
            *cmd = SR_CMD_CHECK_CONFIG;
            continue;
        }
        if (!strcmp(a, "--config")) {
            i++; /* read above */
            continue;
        }
        if (!strncmp(a, "--config=", 9))
            continue;
        if (strncmp(a, "--", 2) != 0) {
            if (positional++ == 0 && !strcmp(a, "migrate"))
                *cmd = SR_CMD_MIGRATE;
            else if (positional == 1 && !strcmp(a, "serve"))
                *cmd = SR_CMD_SERVE;
            else {
                fprintf(err, "signalr-fcgi: unexpected argument '%s' (see --help)\n", a);
                return -1;
            }
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt_def *o = find_option(name, len);
        if (!o) {
            fprintf(err, "signalr-fcgi: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        const char *value;
        if (eq)
            value = eq + 1;
        else if (o->type == OPT_BOOL)
            value = "1";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            fprintf(err, "signalr-fcgi: option --%s needs a value\n", o->name);
            return -1;
        }
        snprintf(origin, sizeof origin, "option --%s", o->name);
        if (set_value(conf, o, value, origin, err))
            return -1;
    }
    return 0;
}

void sr_conf_fini(sr_conf *conf)
{
    free(conf->db);
    free(conf->listen);
    free(conf->jwt_key);
    free(conf->jwt_ed25519_key);
    free(conf->cors_origins);
    free(conf->jwt_issuer);
    free(conf->jwt_audience);
    free(conf->jwt_key_id);
    free(conf->jwt_user_claim);
    free(conf->api_key);
    free(conf->api_prefix);
    free(conf->observe_prefix);
    memset(conf, 0, sizeof *conf);
}

void sr_conf_usage(FILE *out)
{
    fprintf(out,
            "Usage: signalr-fcgi [serve] [OPTIONS]   serve SignalR hubs over FastCGI or CGI\n"
            "       signalr-fcgi migrate [OPTIONS]   create or upgrade the database schema\n"
            "       signalr-fcgi send|group|close|exists ...   push to clients from scripts\n"
            "                                        (run one without arguments for its usage)\n"
            "\n"
            "Every option can also be set through the environment variable shown.\n"
            "Boolean options take no value on the command line (--detailed-errors) or\n"
            "name=1/0 (--detailed-errors=0).\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_def *o = &options[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s", o->name,
                 o->type == OPT_BOOL ? "" : o->type == OPT_INT ? " N" : " VALUE");
        fprintf(out, "  %-28s %s\n  %-28s env %s%s%s%s\n", left, o->help, "", o->env,
                o->def ? ", default " : "", o->def ? o->def : "", "");
    }
    fprintf(out, "\n  --config FILE                read settings from FILE first (env SIGNALR_CONFIG):\n"
                 "                               'name = value' lines, names as above\n"
                 "  --check-config               check the settings, print them, and exit\n"
                 "  --help                       this text\n"
                 "  --version                    print the version\n"
                 "\nPrecedence: defaults < configuration file < environment < command line.\n");
}

void sr_conf_print(const sr_conf *conf, FILE *out)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_def *o = &options[i];
        const char *field = (const char *)conf + o->offset;
        int secret = strstr(o->name, "key") != NULL || !strcmp(o->name, "db");
        switch (o->type) {
        case OPT_STRING: {
            const char *v = *(char *const *)(const void *)field;
            fprintf(out, "%s = %s\n", o->name, !v ? "(unset)" : secret ? "(set, not shown)" : v);
            break;
        }
        case OPT_LOG_LEVEL: {
            static const char *const names[] = {"error", "warn", "info", "debug"};
            fprintf(out, "%s = %s\n", o->name, names[*(const int *)(const void *)field & 3]);
            break;
        }
        default:
            fprintf(out, "%s = %d\n", o->name, *(const int *)(const void *)field);
        }
    }
}
