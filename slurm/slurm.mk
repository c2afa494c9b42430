# slurm.mk — Slurm targets, included by the top-level Makefile.
#
#   make slurm-test      as root: installs slurm-wlm and munge if missing,
#                        starts a private single-node Slurm in a temp dir
#                        and runs the real scripts of slurm/ under it
#                        (walltime warning + restart, job array + merge)
#   make slurm-scripts   regenerates slurm/<job>.sbatch from the table in
#                        slurm/gen-scripts.sh
.PHONY: slurm-test slurm-scripts

slurm-test: deps
	@sh tests/deps.sh slurm-wlm munge
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) MPIRUN="$(MPIRUN)" bash tests/slurm_test.sh

slurm-scripts:
	@sh slurm/gen-scripts.sh
