/*
 * sr_migrate.h — `signalr-fcgi migrate`: applies the schema migrations compiled into the
 * binary (sql/migrations/NNNN_*.sql), in order, each once.
 */
#ifndef SR_MIGRATE_H
#define SR_MIGRATE_H

#include <stddef.h>

typedef struct sr_migration {
    int version;
    const char *name;
    const char *sql;
} sr_migration;

/** The migrations compiled into the binary, in version order (generated file). */
extern const sr_migration sr_migrations[];
extern const size_t sr_n_migrations;

/** Connects and applies every migration not yet recorded. Returns 0 or -1 (reported). */
int sr_migrate_run(void);

#endif
