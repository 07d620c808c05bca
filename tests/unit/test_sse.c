/*
 * test_sse.c — Server-Sent Events framing, with the vectors of ASP.NET's
 * ServerSentEventsMessageFormatterTests (protocol.md §4.3).
 */
#include "config.h"

#include <string.h>

#include "sr_sse.h"
#include "tap.h"

static void check(const char *in, size_t n, const char *want, const char *name)
{
    sr_buf out = SR_BUF_INIT;
    sr_sse_format_event(&out, in, n);
    is_mem(out.ptr, out.len, want, strlen(want), "%s", name);
    sr_buf_fini(&out);
}

int main(void)
{
    check("", 0, "\r\n", "empty payload is a lone CRLF");
    check("Hello", 5, "data: Hello\r\n\r\n", "one line");
    check("Hello\r\nWorld", 12, "data: Hello\r\ndata: World\r\n\r\n", "CRLF splits lines");
    check("Hello\n", 6, "data: Hello\r\ndata: \r\n\r\n", "trailing LF gives an empty line");
    check("\n\n", 2, "data: \r\ndata: \r\ndata: \r\n\r\n", "two LFs give three empty lines");
    check("\r\n", 2, "data: \r\r\ndata: \r\n\r\n",
          "a lone CR before LF stays (only lines longer than one byte lose it)");
    check("{\"type\":6}\x1e", 11, "data: {\"type\":6}\x1e\r\n\r\n",
          "a hub record keeps its record separator inside the data line");
    check("{}\x1e{\"type\":1,\"target\":\"x\",\"arguments\":[]}\x1e", 42,
          "data: {}\x1e{\"type\":1,\"target\":\"x\",\"arguments\":[]}\x1e\r\n\r\n",
          "a batch of records is one event");
    return done_testing();
}
