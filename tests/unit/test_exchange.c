/*
 * test_exchange.c — FastCGI response framing: STDOUT records of at most 65535 bytes carrying
 * the response in order, an empty STDOUT record, then END_REQUEST with status 0, all for the
 * request id the web server gave.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sr_exchange.h"
#include "tap.h"

static size_t read_all(int fd, unsigned char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)r;
    return n;
}

int main(void)
{
    int sv[2];
    signal(SIGPIPE, SIG_IGN); /* as the worker does: a closed peer must be an error, not death */
    ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    sr_http_request req;
    sr_http_request_init(&req, calloc(1, sizeof(char *)), NULL, 0, 0);
    sr_exchange *ex = sr_exchange_new(&req, sv[0], 0x1234);

    size_t big = 70000 + 3;
    char *payload = malloc(big);
    for (size_t i = 0; i < big; i++)
        payload[i] = (char)('a' + i % 26);
    sr_exchange_queue(ex, payload, big);
    sr_exchange_queue_end(ex);
    sr_exchange_queue_end(ex); /* idempotent */
    ok(sr_exchange_write_all(ex) == 0, "write_all succeeds");
    sr_exchange_free(ex); /* closes sv[0] */

    size_t cap = big + 1024;
    unsigned char *wire = malloc(cap);
    size_t n = read_all(sv[1], wire, cap);
    close(sv[1]);

    size_t off = 0, content = 0, records = 0;
    int saw_empty = 0, saw_end = 0, in_order = 1, ids_ok = 1;
    while (off + 8 <= n) {
        unsigned char *h = wire + off;
        size_t len = ((size_t)h[4] << 8) | h[5];
        records++;
        if (h[0] != 1 || ((h[2] << 8) | h[3]) != 0x1234)
            ids_ok = 0;
        if (h[1] == 6 && len > 0) {
            if (saw_empty || memcmp(h + 8, payload + content, len) != 0)
                in_order = 0;
            content += len;
        } else if (h[1] == 6) {
            saw_empty = 1;
        } else if (h[1] == 3) {
            saw_end = len == 8 && saw_empty && !memcmp(h + 8, "\0\0\0\0\0\0\0\0", 8);
        }
        off += 8 + len + h[6];
    }
    is_int((long long)off, (long long)n, "records tile the output exactly");
    is_int((long long)content, (long long)big, "all payload bytes carried");
    is_int((long long)records, 4, "two STDOUT records for 70003 bytes, empty STDOUT, END_REQUEST");
    ok(in_order, "payload arrives in order");
    ok(ids_ok, "version 1 and the request id on every record");
    ok(saw_empty, "an empty STDOUT record ends the stream");
    ok(saw_end, "END_REQUEST with status 0 comes last");

    /* A peer that is gone is reported, not fatal. */
    ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    close(sv[1]);
    sr_http_request_init(&req, calloc(1, sizeof(char *)), NULL, 0, 0);
    ex = sr_exchange_new(&req, sv[0], 1);
    sr_exchange_queue(ex, "x", 1);
    is_int(sr_exchange_write_all(ex), -1, "writing to a closed peer fails cleanly");
    sr_exchange_free(ex);
    free(payload);
    free(wire);
    return done_testing();
}
