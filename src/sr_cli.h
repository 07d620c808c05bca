/*
 * sr_cli.h — `signalr-fcgi send|group|close|exists ...`: the command line for scripts and cron
 * jobs, a thin layer over the SQL functions of sql/migrations/0005_api.sql.
 */
#ifndef SR_CLI_H
#define SR_CLI_H

/** True when @p command is one of the command-line verbs. */
int sr_cli_is_command(const char *command);

/** Runs the command in argv[1]. Returns the exit status (0 ok, 1 failure, 2 usage). */
int sr_cli_main(int argc, char **argv);

#endif
