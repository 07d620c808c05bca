/*
 * sr_cli.c — the command line (see sr_cli.h).
 *
 *   signalr-fcgi send   --hub HUB (--all | --user ID | --group NAME | --connection ID)
 *                       --target METHOD [--args JSON-ARRAY] [--exclude CONNECTION-ID]...
 *   signalr-fcgi group  add|remove --hub HUB --group NAME (--connection ID | --user ID)
 *   signalr-fcgi close  --hub HUB --connection ID [--reason TEXT]
 *   signalr-fcgi exists --hub HUB (--connection ID | --user ID | --group NAME)
 *
 * DESIGN: each verb is one statement calling the SQL function that does the work, in its own
 * transaction, so the command line, psql, the REST API and hub code all deliver the same way.
 * The database comes from --db, SIGNALR_DB, DATABASE_URL or libpq's PG* variables, as for the
 * worker. Validation errors from the functions are printed as they are (they name the bad
 * argument); `exists` answers with its exit status (0 yes, 1 no), for shell conditions.
 */
#include "config.h"

#include "sr_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr_buf.h"
#include "sr_conf.h"
#include "sr_db.h"
#include "sr_store.h"

static const char *const verbs[] = {"send", "group", "close", "exists", NULL};

int sr_cli_is_command(const char *command)
{
    for (size_t i = 0; command && verbs[i]; i++)
        if (!strcmp(command, verbs[i]))
            return 1;
    return 0;
}

typedef struct cli_args {
    const char *hub, *user, *group, *connection, *target, *args, *reason, *db, *action;
    int all;
    const char *exclude[64];
    size_t n_exclude;
} cli_args;

static int usage(const char *why)
{
    fprintf(stderr,
            "signalr-fcgi: %s\n"
            "usage: signalr-fcgi send --hub HUB (--all|--user ID|--group NAME|--connection ID)\n"
            "                         --target METHOD [--args JSON-ARRAY] [--exclude ID]...\n"
            "       signalr-fcgi group add|remove --hub HUB --group NAME (--connection ID|--user ID)\n"
            "       signalr-fcgi close --hub HUB --connection ID [--reason TEXT]\n"
            "       signalr-fcgi exists --hub HUB (--connection ID|--user ID|--group NAME)\n"
            "  [--db CONNINFO] (else SIGNALR_DB, DATABASE_URL or the PG* variables)\n",
            why);
    return 2;
}

static int parse(int argc, char **argv, cli_args *a)
{
    memset(a, 0, sizeof *a);
    int i = 2;
    if (!strcmp(argv[1], "group")) {
        if (argc < 3 || (strcmp(argv[2], "add") && strcmp(argv[2], "remove")))
            return usage("group needs add or remove");
        a->action = argv[2];
        i = 3;
    }
    for (; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = !strcmp(o, "--hub")          ? &a->hub
                            : !strcmp(o, "--user")       ? &a->user
                            : !strcmp(o, "--group")      ? &a->group
                            : !strcmp(o, "--connection") ? &a->connection
                            : !strcmp(o, "--target")     ? &a->target
                            : !strcmp(o, "--args")       ? &a->args
                            : !strcmp(o, "--reason")     ? &a->reason
                            : !strcmp(o, "--db")         ? &a->db
                                                         : NULL;
        if (!strcmp(o, "--all")) {
            a->all = 1;
        } else if (!strcmp(o, "--exclude") && i + 1 < argc) {
            if (a->n_exclude == 64)
                return usage("at most 64 --exclude");
            a->exclude[a->n_exclude++] = argv[++i];
        } else if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else {
            char why[128];
            snprintf(why, sizeof why, "unexpected argument '%s'", o);
            return usage(why);
        }
    }
    if (!a->hub)
        return usage("--hub is required");
    return 0;
}

/* Runs one statement; prints the database's message on failure. */
static PGresult *run(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
        return r;
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    fprintf(stderr, "signalr-fcgi: %s\n", msg ? msg : PQerrorMessage(db));
    PQclear(r);
    return NULL;
}

static int targets_given(const cli_args *a)
{
    return !!a->all + !!a->user + !!a->group + !!a->connection;
}

int sr_cli_main(int argc, char **argv)
{
    cli_args a;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc;
    static sr_conf conf;
    sr_command cmd;
    char *fake[] = {argv[0], NULL};
    if (sr_conf_parse(&conf, &cmd, 1, fake, stderr) != 0)
        return 2;
    if (a.db) {
        free(conf.db);
        conf.db = strdup(a.db);
    }
    sr_config = &conf;
    PGconn *db = sr_db_connect("cli");
    if (!db) {
        fprintf(stderr, "signalr-fcgi: cannot connect to the database\n");
        return 1;
    }
    PGresult *r = NULL;
    rc = 1;
    const char *verb = argv[1];
    if (!strcmp(verb, "send")) {
        sr_buf ex = SR_BUF_INIT;
        if (targets_given(&a) != 1 || !a.target) {
            rc = usage("send needs --target and exactly one of --all, --user, --group, "
                       "--connection");
            goto out;
        }
        if (a.n_exclude)
            sr_store_array_literal(&ex, a.exclude, a.n_exclude);
        const char *args = a.args ? a.args : "[]";
        const char *ex_lit = a.n_exclude ? ex.ptr : NULL;
        if (a.all) {
            const char *p[] = {a.hub, a.target, args, ex_lit};
            r = run(db, "SELECT signalr.send_all($1, $2, $3::jsonb, $4::text[])", 4, p);
        } else if (a.group) {
            const char *p[] = {a.hub, a.group, a.target, args, ex_lit};
            r = run(db, "SELECT signalr.send_group($1, $2, $3, $4::jsonb, $5::text[])", 5, p);
        } else if (a.user) {
            const char *p[] = {a.hub, a.user, a.target, args};
            r = run(db, "SELECT signalr.send_user($1, $2, $3, $4::jsonb)", 4, p);
        } else {
            const char *p[] = {a.hub, a.connection, a.target, args};
            r = run(db, "SELECT signalr.send_connection($1, $2, $3, $4::jsonb)", 4, p);
        }
        sr_buf_fini(&ex);
        rc = r ? 0 : 1;
    } else if (!strcmp(verb, "group")) {
        int add = !strcmp(a.action, "add");
        if (!a.group || (!!a.connection + !!a.user) != 1) {
            rc = usage("group needs --group and one of --connection, --user");
            goto out;
        }
        const char *p[] = {a.hub, a.connection ? a.connection : a.user, a.group};
        const char *sql = a.connection ? (add ? "SELECT signalr.add_to_group($1, $2, $3)"
                                              : "SELECT signalr.remove_from_group($1, $2, $3)")
                                       : (add ? "SELECT signalr.add_user_to_group($1, $2, $3)"
                                              : "SELECT signalr.remove_user_from_group($1, $2, $3)");
        r = run(db, sql, 3, p);
        rc = r ? 0 : 1;
        if (r && a.connection && PQgetvalue(r, 0, 0)[0] == 'f') {
            fprintf(stderr, "signalr-fcgi: %s\n",
                    add ? "no such connection" : "the connection was not in that group");
            rc = 1;
        }
    } else if (!strcmp(verb, "close")) {
        if (!a.connection) {
            rc = usage("close needs --connection");
            goto out;
        }
        const char *p[] = {a.hub, a.connection, a.reason};
        r = run(db, "SELECT signalr.close_connection($1, $2, $3)", 3, p);
        rc = r ? 0 : 1;
        if (r && PQgetvalue(r, 0, 0)[0] == 'f') {
            fprintf(stderr, "signalr-fcgi: no such connection\n");
            rc = 1;
        }
    } else {
        if (targets_given(&a) != 1 || a.all) {
            rc = usage("exists needs one of --connection, --user, --group");
            goto out;
        }
        const char *p[] = {a.hub, a.connection ? a.connection : a.user ? a.user : a.group};
        const char *sql = a.connection ? "SELECT signalr.connection_exists($1, $2)"
                          : a.user     ? "SELECT signalr.user_exists($1, $2)"
                                       : "SELECT signalr.group_exists($1, $2)";
        r = run(db, sql, 2, p);
        rc = r && PQgetvalue(r, 0, 0)[0] == 't' ? 0 : 1;
        if (r)
            printf("%s\n", rc == 0 ? "yes" : "no");
    }
out:
    PQclear(r);
    PQfinish(db);
    return rc;
}
