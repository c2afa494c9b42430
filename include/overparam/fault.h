/* fault.h — fault injection for the kill and failure tests: the archive's
 * critical sections (open, journal, staging) name points where the tests
 * make the process die or a write fail, at an exact moment.
 *
 * Contract: OVERPARAM_FAULT=POINT:N; without it both calls cost one
 * getenv and do nothing. Counts are per process and per point. */
#ifndef OVERPARAM_FAULT_H
#define OVERPARAM_FAULT_H

/* Kills this process (SIGKILL, as a scheduler or the OOM killer would) the
 * Nth time it passes POINT. Points: create (after the datasets exist,
 * before the flush), journal (a record appended, its row not yet
 * written), arrays (a batch's per-run arrays written, its /runs rows not),
 * row (all of a batch written), close (before the final attributes),
 * layout (the file created, its layout not yet written), kernel (a kernel
 * group sealed and journaled, the next not begun). row and arrays
 * count once per run of the batch, so N still means "the Nth run's row". */
void op_fault_point(const char *point);

/* Failures rather than kills: nonzero from the Nth pass of POINT on.
 * full:N makes the Nth journal write and every later one fail as on a
 * full disk (ENOSPC), so the tests fill the disk at an exact moment
 * without a small file system; layoutfull:N does the same to the Nth
 * write of the archive's layout (create_layout's checked steps, then the
 * flush after them) that a rank makes; mpi:N makes the Nth archive status
 * broadcast an invalid MPI call, so they see what an MPI failure prints. */
int op_fault_fails(const char *point);

#endif
