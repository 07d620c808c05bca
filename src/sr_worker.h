/*
 * sr_worker.h — the worker process: start-up, the three ways to run, and shutdown.
 */
#ifndef SR_WORKER_H
#define SR_WORKER_H

/** This process's name in the connections table ("host:pid:random"); set at start-up. */
const char *sr_worker_id(void);

#endif
