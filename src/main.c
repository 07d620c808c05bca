/*
 * main.c — the stock signalr-fcgi binary: the library's worker with the example hubs.
 * A hub author's own program looks the same: register hubs, then call sr_main().
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubs/hubs.h"
#include "signalr-fcgi.h"

int main(int argc, char **argv)
{
    if (sr_hub_register(&chat_room_hub) != SR_OK || sr_hub_register(&rooms_hub) != SR_OK)
        return 1;
    const char *demo = getenv("SIGNALR_DEMO_TOKENS");
    if (demo && !strcmp(demo, "1") && demo_register() != SR_OK)
        return 1;
    const char *test = getenv("SIGNALR_TEST_HUBS");
    if (test && !strcmp(test, "1") &&
        (sr_hub_register(&test_hub) != SR_OK || sr_hub_register(&policy_hub) != SR_OK ||
         sr_hub_register(&members_hub) != SR_OK || sr_hub_register(&parallel_hub) != SR_OK))
        return 1;
    return sr_main(argc, argv);
}
