/*
 * sr_worker.c — sr_main(): start-up, the three ways to run, and shutdown.
 *
 * DESIGN: one code path, three front ends (design.md). With a FastCGI socket (inherited on fd 0
 * from lighttpd's bin-path or mod_fcgid, or opened with --listen) the process runs a small pool
 * of request threads (sr_front.c) and one event-loop thread (sr_loop.c) that holds every parked
 * request, the LISTEN session and the timers. Without one, and with GATEWAY_INTERFACE set, it is
 * a CGI program: it reads its single request, and if that request has to wait it runs the same
 * event loop on the main thread until the request is answered, reading the log on a timer
 * instead of LISTENing.
 * Signals: SIGPIPE is ignored and SIGTERM/SIGINT/SIGHUP are blocked in every thread before
 * libfcgi is initialised (libfcgi installs its own handlers only where none is set, and its
 * SIGTERM handler would merely stop the next accept); the main thread waits for them with
 * sigwait and shuts down: held polls get an empty 200 so their clients poll again elsewhere.
 */
#include "config.h"

#include "sr_worker.h"

#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signalr-fcgi.h"
#include "sr_cli.h"
#include "sr_conf.h"
#include "sr_auth.h"
#include "sr_db.h"
#include "sr_feed.h"
#include "sr_front.h"
#include "sr_hub.h"
#include "sr_log.h"
#include "sr_longpoll.h"
#include "sr_loop.h"
#include "sr_metrics.h"
#include "sr_migrate.h"
#include "sr_park.h"
#include "sr_reaper.h"
#include "sr_restapi.h"
#include "sr_route.h"
#include "sr_sse.h"

static char worker_id[128];
static sr_conf conf;

const char *sr_worker_id(void)
{
    return worker_id;
}

static void make_worker_id(void)
{
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(worker_id, sizeof worker_id, "%s:%ld:%08x", host, (long)getpid(),
             (unsigned)randombytes_random());
}

static void tick(void)
{
    double now = sr_now();
    sr_feed_tick();
    sr_metrics_loop_gauges((long)sr_park_count(), sr_feed_db() != NULL);
    sr_park_tick(now);
    sr_longpoll_flush();
    sr_sse_tick(now);
    sr_reaper_tick(now);
}

static void stop_task(void *arg)
{
    (void)arg;
    sr_park_shutdown();
    sr_longpoll_flush();
    sr_sse_shutdown();
}

static void feed_start_task(void *arg)
{
    (void)arg;
    sr_feed_start(1, 0);
}

static int cgi_waiting(void)
{
    return sr_park_count() > 0 || sr_park_finishing() > 0;
}

static int run_cgi(void)
{
    /* One request per process: the default dispositions (terminate) are the right shutdown, and
     * the web server's SIGTERM must not be left waiting on a held request. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    sr_metrics_cgi_mode();
    sr_exchange *ex = sr_front_cgi_exchange((size_t)conf.max_body_size);
    if (!ex)
        return 1;
    sr_route_handle(ex);
    if (!sr_loop_has_tasks())
        return 0; /* answered already */
    /* A request that had to wait was handed to the loop; run it here until it is answered. */
    sr_loop_set_tick(conf.cgi_poll_interval_ms < 250 ? conf.cgi_poll_interval_ms : 250, tick);
    sr_feed_start(0, conf.cgi_poll_interval_ms);
    sr_loop_run(cgi_waiting);
    sr_feed_stop();
    sr_db_thread_close();
    return 0;
}

static int run_fastcgi(int listen_fd)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sr_loop_set_tick(250, tick);
    sr_loop_post(feed_start_task, NULL);
    if (sr_loop_start_thread() != 0)
        return 1;
    if (sr_front_start(listen_fd, conf.threads, (size_t)conf.max_body_size, sr_route_handle) != 0)
        return 1;
    sr_log_info("worker %s serving %zu hub(s) with %d request threads", worker_id,
                sr_hub_count(), conf.threads);
    int sig = 0;
    sigwait(&set, &sig);
    sr_log_info("worker %s stopping (signal %d)", worker_id, sig);
    sr_front_stop();
    sr_loop_post(stop_task, NULL);
    sr_loop_stop();
    sr_feed_stop();
    return 0;
}

int sr_main(int argc, char **argv)
{
    sr_command cmd;
    if (argc > 1 && sr_cli_is_command(argv[1]))
        return sr_cli_main(argc, argv);
    if (sr_conf_parse(&conf, &cmd, argc, argv, stderr) != 0)
        return 2;
    sr_config = &conf;
    sr_log_set_level((sr_log_level)conf.log_level);
    if (cmd == SR_CMD_HELP) {
        sr_conf_usage(stdout);
        return 0;
    }
    if (cmd == SR_CMD_VERSION) {
        printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
        return 0;
    }
    if (cmd == SR_CMD_CHECK_CONFIG) {
        if (sodium_init() < 0 || sr_auth_init() != 0)
            return 2;
        sr_conf_print(&conf, stdout);
        return 0;
    }
    if (sodium_init() < 0) {
        sr_log_error("libsodium could not be initialised");
        return 1;
    }
    if (cmd == SR_CMD_MIGRATE)
        return sr_migrate_run() == 0 ? 0 : 1;
    if (sr_auth_init() != 0)
        return 2;
    if (cmd == SR_CMD_SERVE && (sr_restapi_init() != 0 || sr_metrics_init() != 0))
        return 1;
    if (sr_hub_count() == 0) {
        sr_log_error("no hub is registered");
        return 1;
    }
    make_worker_id();

    /* Before FCGX_Init and before any thread exists, so every thread inherits the mask. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (FCGX_Init() != 0) {
        sr_log_error("FCGX_Init failed");
        return 1;
    }
    if (sr_loop_init() != 0)
        return 1;
    int rc;
    if (conf.listen) {
        int fd = sr_front_listen(conf.listen);
        rc = fd < 0 ? 1 : run_fastcgi(fd);
    } else if (sr_front_inherited()) {
        rc = run_fastcgi(0);
    } else if (getenv("GATEWAY_INTERFACE")) {
        rc = run_cgi();
    } else {
        fprintf(stderr, "signalr-fcgi: not started by a web server (no FastCGI socket on fd 0, "
                        "no CGI environment); use --listen ADDRESS to serve FastCGI, or see "
                        "--help\n");
        rc = 2;
    }
    sr_conf_fini(&conf);
    return rc;
}
