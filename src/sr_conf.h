/*
 * sr_conf.h — the worker's settings: one table of options, each settable from the command line
 * or the environment (web servers that spawn workers pass settings through the environment,
 * e.g. lighttpd's bin-environment). Defaults equal ASP.NET Core SignalR's where it has one.
 * The parsed sr_conf is immutable after start-up and read by every thread without locks.
 */
#ifndef SR_CONF_H
#define SR_CONF_H

#include <stdio.h>

typedef struct sr_conf {
    char *db;                 /* libpq conninfo or URI; NULL = libpq's PG* environment */
    char *listen;             /* "host:port" or a socket path; NULL = inherited socket or CGI */
    int threads;              /* request threads per worker */
    int poll_timeout;         /* seconds a long poll is held (LongPolling.PollTimeout) */
    int disconnect_timeout;   /* seconds without a poll before a connection is removed */
    int handshake_timeout;    /* seconds from the first transport request to the handshake */
    int keepalive_interval;   /* seconds between server Pings on a stream (KeepAliveInterval) */
    int client_timeout;       /* seconds of client silence that end a stream (ClientTimeout) */
    int detailed_errors;      /* EnableDetailedErrors */
    int max_message_size;     /* MaximumReceiveMessageSize, bytes */
    int max_body_size;        /* largest POST body accepted, bytes (413 above) */
    int retention;            /* seconds a published message is kept in the table */
    int cgi_poll_interval_ms; /* CGI mode: how often a held request re-reads the table */
    char *jwt_key;            /* HS256 secret for bearer tokens; NULL = tokens not accepted */
    char *jwt_ed25519_key;    /* Ed25519 public key (base64url) for EdDSA tokens; excludes jwt_key */
    int jwt_leeway;           /* seconds of clock skew allowed on exp/nbf */
    char *cors_origins;       /* comma-separated origins allowed to call from a browser */
    int require_auth;         /* every hub requires an authenticated user */
    int max_groups_per_connection;
    int max_connections_per_user; /* 0 = no limit */
    int max_parallel_invocations; /* default MaximumParallelInvocationsPerClient */
    int min_negotiate_version;    /* negotiate versions below are refused (ASP.NET's
                                     MinimumProtocolVersion) */
    char *jwt_issuer;         /* required iss, or NULL */
    char *jwt_audience;       /* required aud, or NULL */
    char *jwt_key_id;         /* the kid tokens may name, or NULL (a token naming one is refused) */
    char *jwt_user_claim;     /* comma-separated claims naming the user, first present wins */
    char *api_key;            /* access key of the REST API; NULL = the API is off */
    char *api_prefix;         /* where the REST API is mounted, e.g. "/api/" */
    char *observe_prefix;     /* where health and metrics are served; "" = not served */
    int log_level;
} sr_conf;

typedef enum sr_command {
    SR_CMD_SERVE,
    SR_CMD_MIGRATE,
    SR_CMD_HELP,
    SR_CMD_VERSION,
    SR_CMD_CHECK_CONFIG,
} sr_command;

/**
 * Fills @p conf from defaults, then the configuration file (--config FILE or SIGNALR_CONFIG),
 * then the environment, then argv (later wins). Returns 0, or -1 after printing a message
 * naming the bad option, variable, or file and line to @p err.
 */
int sr_conf_parse(sr_conf *conf, sr_command *cmd, int argc, char **argv, FILE *err)
    __attribute__((warn_unused_result));
void sr_conf_fini(sr_conf *conf);
void sr_conf_usage(FILE *out);
/** Prints the effective settings (secrets masked), one "name = value" per line. */
void sr_conf_print(const sr_conf *conf, FILE *out);

/** The configuration of the running worker (set once by sr_main before any thread starts). */
extern const sr_conf *sr_config;

#endif
