/*
 * sr_loop.c — epoll loop with cross-thread task posting and a periodic tick (see sr_loop.h).
 *
 * DESIGN: registrations live in a table indexed by fd; the epoll event carries the fd and a
 * generation number, so an event collected for an fd that was removed (and perhaps reused for a
 * new request) during the same pass is recognised as stale and skipped, instead of reaching a
 * freed object (fcgi-parking.md §6: "a dropped request can still have an event pending in the
 * same batch"). Tasks from other threads go through a mutex-protected queue and an eventfd.
 * Level-triggered epoll: callbacks need not drain everything at once.
 */
#include "config.h"

#include "sr_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sr_log.h"
#include "sr_mem.h"

typedef struct reg {
    sr_loop_fd_cb cb;
    void *arg;
    uint32_t gen;
    int active;
} reg;

typedef struct task {
    sr_loop_task_fn fn;
    void *arg;
    struct task *next;
} task;

static int epfd = -1;
static int wakefd = -1;
static reg *regs;
static size_t n_regs;
static uint32_t next_gen = 1;
static pthread_mutex_t task_lock = PTHREAD_MUTEX_INITIALIZER;
static task *task_head, *task_tail;
static atomic_int stop_requested;
static int tick_ms = 1000;
static void (*tick_fn)(void);
static pthread_t loop_thread;
static int loop_thread_started;

double sr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t pack(int fd, uint32_t gen)
{
    return ((uint64_t)(uint32_t)fd << 32) | gen;
}

int sr_loop_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd < 0 || wakefd < 0) {
        sr_log_error("event loop: cannot create epoll/eventfd: %s", strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = pack(wakefd, 0)};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev);
}

int sr_loop_add(int fd, uint32_t events, sr_loop_fd_cb cb, void *arg)
{
    if (fd < 0)
        return -1;
    if ((size_t)fd >= n_regs) {
        size_t n = n_regs ? n_regs : 1024;
        while (n <= (size_t)fd)
            n *= 2;
        regs = sr_xrealloc(regs, n * sizeof *regs);
        memset(regs + n_regs, 0, (n - n_regs) * sizeof *regs);
        n_regs = n;
    }
    reg *r = &regs[fd];
    r->cb = cb;
    r->arg = arg;
    r->gen = next_gen++;
    if (next_gen == 0)
        next_gen = 1;
    r->active = 1;
    struct epoll_event ev = {.events = events, .data.u64 = pack(fd, r->gen)};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        sr_log_warn("event loop: cannot watch fd %d: %s", fd, strerror(errno));
        r->active = 0;
        return -1;
    }
    return 0;
}

int sr_loop_mod(int fd, uint32_t events)
{
    if (fd < 0 || (size_t)fd >= n_regs || !regs[fd].active)
        return -1;
    struct epoll_event ev = {.events = events, .data.u64 = pack(fd, regs[fd].gen)};
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

void sr_loop_del(int fd)
{
    if (fd < 0 || (size_t)fd >= n_regs || !regs[fd].active)
        return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    regs[fd].active = 0;
    regs[fd].gen = 0;
}

void sr_loop_post(sr_loop_task_fn fn, void *arg)
{
    task *t = sr_xmalloc(sizeof *t);
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&task_lock);
    if (task_tail)
        task_tail->next = t;
    else
        task_head = t;
    task_tail = t;
    pthread_mutex_unlock(&task_lock);
    uint64_t one = 1;
    ssize_t w = write(wakefd, &one, sizeof one);
    (void)w; /* a full eventfd counter still wakes the loop */
}

int sr_loop_has_tasks(void)
{
    pthread_mutex_lock(&task_lock);
    int any = task_head != NULL;
    pthread_mutex_unlock(&task_lock);
    return any;
}

void sr_loop_set_tick(int ms, void (*tick)(void))
{
    tick_ms = ms;
    tick_fn = tick;
}

static void run_tasks(void)
{
    uint64_t count;
    ssize_t r = read(wakefd, &count, sizeof count);
    (void)r;
    pthread_mutex_lock(&task_lock);
    task *t = task_head;
    task_head = task_tail = NULL;
    pthread_mutex_unlock(&task_lock);
    while (t) {
        task *next = t->next;
        t->fn(t->arg);
        free(t);
        t = next;
    }
}

void sr_loop_run(int (*keep_going)(void))
{
    struct epoll_event events[256];
    double next_tick = sr_now() + tick_ms / 1000.0;
    while (!atomic_load(&stop_requested)) {
        int timeout = (int)((next_tick - sr_now()) * 1000.0);
        if (timeout < 0)
            timeout = 0;
        int n = epoll_wait(epfd, events, 256, timeout);
        if (n < 0 && errno != EINTR) {
            sr_log_error("event loop: epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            int fd = (int)(events[i].data.u64 >> 32);
            uint32_t gen = (uint32_t)events[i].data.u64;
            if (fd == wakefd && gen == 0) {
                run_tasks();
                continue;
            }
            if ((size_t)fd >= n_regs || !regs[fd].active || regs[fd].gen != gen)
                continue; /* removed earlier in this pass */
            regs[fd].cb(fd, events[i].events, regs[fd].arg);
        }
        if (sr_now() >= next_tick) {
            next_tick = sr_now() + tick_ms / 1000.0;
            if (tick_fn)
                tick_fn();
        }
        if (keep_going && !keep_going())
            break;
    }
}

static void *loop_main(void *arg)
{
    (void)arg;
    sr_loop_run(NULL);
    return NULL;
}

int sr_loop_start_thread(void)
{
    if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0) {
        sr_log_error("event loop: cannot start thread");
        return -1;
    }
    loop_thread_started = 1;
    return 0;
}

void sr_loop_stop(void)
{
    atomic_store(&stop_requested, 1);
    uint64_t one = 1;
    ssize_t w = write(wakefd, &one, sizeof one);
    (void)w;
    if (loop_thread_started && !pthread_equal(pthread_self(), loop_thread)) {
        pthread_join(loop_thread, NULL);
        loop_thread_started = 0;
    }
}
