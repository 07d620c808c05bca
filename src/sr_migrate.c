/*
 * sr_migrate.c — applies the schema migrations (see sr_migrate.h).
 *
 * DESIGN: the migrations are compiled in (sql/embed.sh turns the files in sql/migrations into a C
 * table), so the binary never looks for SQL files at run time and cannot apply a schema other
 * than the one it was built for. A session-level advisory lock makes concurrent runs wait for
 * each other; each migration runs in its own transaction together with the row that records
 * it in signalr.schema_version, so a failure leaves the schema at the previous version and a
 * second run changes nothing. Applied files are never edited: a change is a new file.
 */
#include "config.h"

#include "sr_migrate.h"

#include <stdio.h>
#include <stdlib.h>

#include "sr_db.h"
#include "sr_log.h"

static const char bootstrap[] =
    "CREATE SCHEMA IF NOT EXISTS signalr;"
    "CREATE TABLE IF NOT EXISTS signalr.schema_version ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

static int applied(PGconn *db, int version)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *params[] = {v};
    PGresult *r = sr_db_query(db, "SELECT 1 FROM signalr.schema_version WHERE version = $1",
                              1, params, NULL, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n > 0;
}

static int apply(PGconn *db, const sr_migration *m)
{
    char v[16];
    snprintf(v, sizeof v, "%d", m->version);
    const char *params[] = {v, m->name};
    if (sr_db_exec(db, "BEGIN") != 0)
        return -1;
    PGresult *r = PQexec(db, m->sql); /* several statements: the simple query protocol */
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "signalr-fcgi migrate: %s failed: %s", m->name, PQerrorMessage(db));
        PQclear(r);
        sr_db_exec(db, "ROLLBACK");
        return -1;
    }
    PQclear(r);
    r = sr_db_query(db, "INSERT INTO signalr.schema_version (version, name) VALUES ($1, $2)", 2,
                    params, NULL, NULL);
    if (!r) {
        sr_db_exec(db, "ROLLBACK");
        return -1;
    }
    PQclear(r);
    return sr_db_exec(db, "COMMIT");
}

int sr_migrate_run(void)
{
    PGconn *db = sr_db_connect("migrate");
    if (!db) {
        fprintf(stderr, "signalr-fcgi migrate: cannot connect to the database\n");
        return -1;
    }
    int rc = -1, done = 0;
    /* Notices such as "schema already exists, skipping" are expected on a second run. */
    if (sr_db_exec(db, "SET client_min_messages = warning") != 0 ||
        sr_db_exec(db, "SELECT pg_advisory_lock(1936287346, 0)") != 0 ||
        sr_db_exec(db, bootstrap) != 0)
        goto out;
    for (size_t i = 0; i < sr_n_migrations; i++) {
        int a = applied(db, sr_migrations[i].version);
        if (a < 0)
            goto out;
        if (a)
            continue;
        if (apply(db, &sr_migrations[i]) != 0)
            goto out;
        printf("applied %s\n", sr_migrations[i].name);
        done++;
    }
    printf("schema is up to date (%zu migration%s, %d applied now)\n", sr_n_migrations,
           sr_n_migrations == 1 ? "" : "s", done);
    rc = 0;
out:
    PQfinish(db);
    return rc;
}
