/* main.c — the overparam program: a shim over the library's command line. */
#include "overparam/cli.h"

int main(int argc, char **argv) { return op_cli_main(argc, argv); }
