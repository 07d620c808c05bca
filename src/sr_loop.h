/*
 * sr_loop.h — the worker's event loop: one thread that waits on every parked request, the
 * LISTEN connection and the timers, so that a waiting request holds a file descriptor and a few
 * hundred bytes, never a thread (design.md, "A waiting request does not hold a thread").
 *
 * Everything registered with the loop is touched only by the loop thread. Other threads talk to
 * it through sr_loop_post(), which queues a function to run on the loop thread.
 */
#ifndef SR_LOOP_H
#define SR_LOOP_H

#include <stdint.h>

typedef void (*sr_loop_fd_cb)(int fd, uint32_t events, void *arg);
typedef void (*sr_loop_task_fn)(void *arg);

int sr_loop_init(void);

/** Watches @p fd for @p events (EPOLLIN, EPOLLOUT, ...). Loop thread only (or before start). */
int sr_loop_add(int fd, uint32_t events, sr_loop_fd_cb cb, void *arg);
int sr_loop_mod(int fd, uint32_t events);
/** Stops watching @p fd. Events already collected for it in the current pass are dropped, so
 *  the callback's argument may be freed right after this call. */
void sr_loop_del(int fd);

/** Runs @p fn(arg) on the loop thread, soon. Thread-safe. */
void sr_loop_post(sr_loop_task_fn fn, void *arg);

/** True when tasks are queued for the loop. */
int sr_loop_has_tasks(void);

/** Calls @p tick on the loop thread about every @p ms milliseconds. */
void sr_loop_set_tick(int ms, void (*tick)(void));

/** Runs the loop on a new thread. */
int sr_loop_start_thread(void);
/** Runs the loop on the calling thread until sr_loop_stop() or until @p keep_going returns 0
 *  (checked after every pass; NULL = forever). */
void sr_loop_run(int (*keep_going)(void));
/** Makes the loop return after the current pass. Thread-safe. Waits for the loop thread when it
 *  was started with sr_loop_start_thread() and this is called from another thread. */
void sr_loop_stop(void);

/** Monotonic clock, seconds. */
double sr_now(void);

#endif
