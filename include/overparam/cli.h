/* cli.h — the `overparam` command line as a library call, so main.c is a
 * shim and tests can drive commands in-process. */
#ifndef OVERPARAM_CLI_H
#define OVERPARAM_CLI_H

/* Runs `overparam argv[1] ...`; returns the exit code (see error.h). */
int op_cli_main(int argc, char **argv);

#endif
