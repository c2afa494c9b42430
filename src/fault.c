/* fault.c — OVERPARAM_FAULT's kill and failure points (see fault.h). */
#include "overparam/fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void op_fault_point(const char *point)
{
    static int hits[8];
    static const char *const names[] = {"create", "journal", "row", "arrays",
                                        "close", "layout", "kernel", NULL};
    const char *spec = getenv("OVERPARAM_FAULT");
    if (!spec)
        return;
    size_t len = strcspn(spec, ":");
    if (strlen(point) != len || strncmp(spec, point, len) != 0)
        return;
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], point) && ++hits[i] == atoi(spec + len + 1)) {
            fprintf(stderr, "overparam: fault injection: killed at %s\n", spec);
            raise(SIGKILL);
        }
}

int op_fault_fails(const char *point)
{
    static int hits[4];
    static const char *const names[] = {"full", "mpi", "layoutfull", NULL};
    const char *spec = getenv("OVERPARAM_FAULT");
    size_t len = strlen(point);
    if (!spec || strncmp(spec, point, len) != 0 || spec[len] != ':')
        return 0;
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], point))
            return ++hits[i] >= atoi(spec + len + 1);
    return 0;
}
