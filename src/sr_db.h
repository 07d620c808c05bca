/*
 * sr_db.h — PostgreSQL connections: one per request thread (created on first use and replaced
 * after a failure) plus the ones the loop and the migrate command open themselves.
 *
 * A PGconn belongs to exactly one thread. Every statement goes through PQexecParams with
 * out-of-line parameters; every name in SQL is schema-qualified and connections run with
 * search_path = pg_catalog, so nothing a database user creates elsewhere can shadow ours.
 */
#ifndef SR_DB_H
#define SR_DB_H

#include <libpq-fe.h>

/** Opens a new connection. @p role names it in pg_stat_activity (application_name
 *  "signalr-fcgi <role>"). Returns NULL (after logging) when the database cannot be reached. */
PGconn *sr_db_connect(const char *role);

/** The calling thread's connection, connecting if needed. NULL when the database is down. */
PGconn *sr_db_thread(void);

/** Tells the module that the thread connection failed; the next sr_db_thread() reconnects. */
void sr_db_thread_reset(void);

/** Closes the calling thread's connection (at thread exit). */
void sr_db_thread_close(void);

/**
 * Runs a statement with text parameters (NULL entries are SQL NULL; @p lengths may be NULL for
 * NUL-terminated text, or give binary lengths together with @p formats). Returns the result
 * when it succeeded (COMMAND_OK or TUPLES_OK; caller PQclears), else NULL after logging the
 * error at warn level. The SQLSTATE of the last failure on this thread is kept for
 * sr_db_last_state().
 */
PGresult *sr_db_query(PGconn *db, const char *sql, int nparams, const char *const *params,
                      const int *lengths, const int *formats);

/** Runs parameterless SQL (may be several statements: simple query protocol); 0 or -1. */
int sr_db_exec(PGconn *db, const char *sql);

/** The SQLSTATE of the calling thread's last failed statement ("" if none). */
const char *sr_db_last_state(void);

/** True when the connection is unusable (the server went away). */
int sr_db_broken(PGconn *db);

#endif
