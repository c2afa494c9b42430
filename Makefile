# overparam — build, run, test.
#
#   make run      install missing Debian packages (as root), build, run jobs/quick.ini on 2 ranks
#   make check    build and run every test (SAN=1: AddressSanitizer + UBSan)
#   make bench    benchmarks table (bench/)
#   make config   print what the build found
#
# On a cluster, MPI/HDF5/ScaLAPACK come from modules: override CC and the
# *_CFLAGS/*_LIBS variables on the command line or in a site file (site.mk,
# or SITE=path/to/file.mk), e.g.
#   make CC=mpicc MPI_CFLAGS= MPI_LIBS= HDF5_CFLAGS=-I$HDF5_DIR/include \
#        HDF5_LIBS="-L$HDF5_DIR/lib -lhdf5" SCALAPACK_LIBS=-lscalapack

SITE ?= site.mk
-include $(SITE)

BUILD ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
PYTHON ?= /usr/bin/python3
NP ?= 2
JOB ?= jobs/quick.ini
OUT ?= results/quick.h5

pc = $(shell $(PKG_CONFIG) $(1) $(2) 2>/dev/null)
MPI_CFLAGS ?= $(call pc,--cflags,ompi)
MPI_LIBS ?= $(call pc,--libs,ompi)
HDF5_CFLAGS ?= $(call pc,--cflags,hdf5-openmpi)
HDF5_LIBS ?= $(call pc,--libs,hdf5-openmpi)
SCALAPACK_LIBS ?= $(call pc,--libs,scalapack-openmpi)
# ELPA (optional): the default eigensolver when found; ELPA_LIBS= builds without.
ELPA_LIBS ?= $(call pc,--libs,elpa)
ELPA_CFLAGS ?= $(if $(ELPA_LIBS),$(call pc,--cflags,elpa) -DOP_HAVE_ELPA)
BLAS_CFLAGS ?= $(call pc,--cflags,openblas)
BLAS_LIBS ?= $(call pc,--libs,openblas)
INIH_LIBS ?= $(call pc,--libs,inih)
ZLIB_LIBS ?= $(call pc,--libs,zlib)
CHECK_CFLAGS ?= $(call pc,--cflags,check)
CHECK_LIBS ?= $(call pc,--libs,check)

# Flags. The required ones live in FINAL_*; a user's CFLAGS, CPPFLAGS and
# LDFLAGS (`make CFLAGS=-O3`, `make CFLAGS=-march=native`) are added after
# them, so they can change optimization or add options but never drop the
# include paths or the language standard (redis's FINAL_CFLAGS).
OPT ?= -O2 -g
STD_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_XOPEN_SOURCE=700
WARN_CFLAGS = -Wall -Wextra
DEP_CFLAGS = -MMD -MP
ifeq ($(SAN),1)
SAN_CFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_LDFLAGS = -fsanitize=address,undefined -Wl,--export-dynamic-symbol=dlclose
BUILD := $(BUILD)-san
endif
FINAL_CFLAGS = $(STD_CFLAGS) $(WARN_CFLAGS) $(OPT) -Iinclude $(MPI_CFLAGS) \
	$(HDF5_CFLAGS) $(BLAS_CFLAGS) $(ELPA_CFLAGS) $(SAN_CFLAGS) $(DEP_CFLAGS) $(CPPFLAGS) $(CFLAGS)
FINAL_LDFLAGS = $(SAN_LDFLAGS) $(LDFLAGS)
LIBS = $(ELPA_LIBS) $(SCALAPACK_LIBS) $(HDF5_LIBS) $(MPI_LIBS) $(BLAS_LIBS) $(INIH_LIBS) $(ZLIB_LIBS) -lm

# Quiet build lines (`CC src/net.c`); `make V=1` prints the full commands.
ifeq ($(V),1)
Q =
QUIET_CC =
QUIET_LINK =
QUIET_AR =
else
Q = @
QUIET_CC = @printf '  %-6s %s\n' CC $<;
QUIET_LINK = @printf '  %-6s %s\n' LINK $@;
QUIET_AR = @printf '  %-6s %s\n' AR $@;
endif

GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
VERSION := 0.1.0
# Only the objects that embed the revision (archive attribute, --version)
# see it, and they are rebuilt when it changes: a stamp file rewritten only
# on a new revision.
REV_CFLAGS = -DOP_VERSION=\"$(VERSION)\" -DOP_GIT_REV=\"$(GIT_REV)\"
REV_STAMP := $(BUILD)/git_rev
$(shell mkdir -p $(BUILD) && (echo '$(GIT_REV)' | cmp -s - $(REV_STAMP) || echo '$(GIT_REV)' > $(REV_STAMP)))

LIB_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SCRIPTS := $(wildcard tests/t_*.sh)
UNIT_BIN := $(filter-out $(BUILD)/tests/test_mpi_%,$(TEST_BIN))
MPI_BIN := $(filter $(BUILD)/tests/test_mpi_%,$(TEST_BIN))

# The sanitized build keeps every dlopen()ed library loaded: Open MPI
# unloads its components at MPI_Finalize, which leaves LeakSanitizer with
# dynamic-TLS ranges of unmapped libraries (a crash of its tracer at exit)
# and with allocation stacks in "<unknown module>" that no suppression can
# name. tests/san_keep_loaded.c says more.
ifeq ($(SAN),1)
SAN_OBJ = $(BUILD)/obj/san_keep_loaded.o
# The leak gate: a test binary that leaks through overparam's own code on
# purpose; tests/san_gate.sh fails unless LeakSanitizer reports it.
SAN_GATE_BIN = $(BUILD)/tests/leak_gate
SAN_GATE = tests/san_gate.sh
endif
# One link line for every program: main, tests, benchmarks.
LINK = $(CC) $(FINAL_CFLAGS) $(1) $(SAN_OBJ) $(BUILD)/liboverparam.a $(LIBS) $(2) $(FINAL_LDFLAGS) -o $@
# test_kernel's references in quad precision (GCC's libquadmath).
$(BUILD)/tests/test_kernel: TEST_LIBS = -lquadmath

.PHONY: all run check test unit-test mpi-test deps deps-python deps-fuzz config bench clean report slurm-test fuzz

all: $(BUILD)/overparam

$(BUILD)/obj/archive.o $(BUILD)/obj/cli.o: $(REV_STAMP)
$(BUILD)/obj/archive.o $(BUILD)/obj/cli.o: EXTRA_CFLAGS = $(REV_CFLAGS)

# The kernel recursion's column loops must vectorize (sqrt needs
# -fno-math-errno, selects need -fno-trapping-math: nothing here reads
# errno or the floating-point exception flags). Required, so it comes after
# the user's flags.
$(BUILD)/obj/kernel.o: EXTRA_CFLAGS = -O3 -fno-math-errno -fno-trapping-math

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(QUIET_CC)$(CC) $(FINAL_CFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

$(BUILD)/obj/san_keep_loaded.o: tests/san_keep_loaded.c | $(BUILD)/obj
	$(QUIET_CC)$(CC) $(FINAL_CFLAGS) -c $< -o $@

$(BUILD)/liboverparam.a: $(LIB_OBJ)
	$(QUIET_AR)ar rcs $@ $^

$(BUILD)/overparam: src/main.c $(BUILD)/liboverparam.a $(SAN_OBJ)
	$(QUIET_LINK)$(call LINK,$<)

$(BUILD)/tests/%: tests/%.c $(BUILD)/liboverparam.a $(SAN_OBJ) | $(BUILD)/tests
	$(QUIET_LINK)$(call LINK,$(CHECK_CFLAGS) $<,$(CHECK_LIBS) $(TEST_LIBS))

$(BUILD)/obj $(BUILD)/tests:
	$(Q)mkdir -p $@

# Exact header dependencies, written by the compiler (-MMD -MP).
-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)

# The Debian packages this project needs; `make deps` installs the missing
# ones when run as root and otherwise names them.
DEB_PKGS = gcc make libopenmpi-dev openmpi-bin libscalapack-openmpi-dev libopenblas-dev \
	libhdf5-openmpi-dev hdf5-tools check libinih-dev zlib1g-dev pkg-config \
	dataset-fashion-mnist libelpa-dev
DEB_PY = python3-h5py python3-numpy python3-matplotlib python3-pandas python3-xarray python3-scipy
deps:
	@sh tests/deps.sh $(DEB_PKGS)

deps-python:
	@sh tests/deps.sh $(DEB_PY)

config:
	@echo "CC            = $(CC) ($$($(CC) --version 2>/dev/null | head -n1))"
	@echo "MPI_CFLAGS    = $(MPI_CFLAGS)"
	@echo "MPI_LIBS      = $(MPI_LIBS)"
	@echo "HDF5_CFLAGS   = $(HDF5_CFLAGS)"
	@echo "HDF5_LIBS     = $(HDF5_LIBS)"
	@echo "SCALAPACK_LIBS= $(SCALAPACK_LIBS)"
	@echo "ELPA          = $(ELPA_CFLAGS) $(ELPA_LIBS)"
	@echo "BLAS          = $(BLAS_CFLAGS) $(BLAS_LIBS)"
	@echo "INIH/ZLIB     = $(INIH_LIBS) $(ZLIB_LIBS)"
	@echo "CHECK         = $(CHECK_LIBS)"
	@echo "site file     = $(SITE) ($(if $(wildcard $(SITE)),found,none))"

MPIRUN ?= mpirun --allow-run-as-root --oversubscribe
run: deps
	@$(MAKE) --no-print-directory config
	@$(MAKE) --no-print-directory all
	@mkdir -p $(dir $(OUT))
	$(MPIRUN) -np $(NP) $(BUILD)/overparam run $(JOB) -o $(OUT) --force
	$(BUILD)/overparam info $(OUT)

# run_tests.sh takes Check binaries (test_mpi_* under mpirun on 1, 2 and 4
# ranks) and shell scripts, and ends with "N passed, N failed".
RUN_TESTS = BUILD=$(BUILD) MPIRUN="$(MPIRUN)" sh tests/run_tests.sh

# Everything: the Check unit tests, the MPI tests, the shell scenarios and,
# in the sanitized build, the leak gate.
check: deps deps-python
	@$(MAKE) --no-print-directory all $(TEST_BIN) $(SAN_GATE_BIN)
	@$(RUN_TESTS) $(TEST_BIN) $(TEST_SCRIPTS) $(SAN_GATE)

test: check

# The Check binaries that need no mpirun (serial unit tests).
unit-test: deps
	@$(MAKE) --no-print-directory $(UNIT_BIN)
	@$(RUN_TESTS) $(UNIT_BIN)

# What runs under mpirun: the test_mpi_* binaries on 1, 2 and 4 ranks and
# the shell scenarios (run, resume, kill, merge, determinism, ...).
mpi-test: deps deps-python
	@$(MAKE) --no-print-directory all $(MPI_BIN)
	@$(RUN_TESTS) $(MPI_BIN) $(TEST_SCRIPTS)

clean:
	rm -rf $(BUILD) $(BUILD)-san

# Targets owned by the other top-level folders.
-include analysis/report.mk
-include slurm/slurm.mk
-include bench/bench.mk

# libFuzzer targets (Debian's clang and its runtime): `make fuzz
# FUZZ_SECONDS=600`. .ci/run runs each for FUZZ_SECONDS (60 s); a crash,
# leak or timeout fails the target and leaves its input in $(BUILD)/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined $(STD_CFLAGS) -Iinclude \
	$(MPI_CFLAGS) $(HDF5_CFLAGS) $(BLAS_CFLAGS)
FUZZ_RUN = -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
	-print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/
$(BUILD)/fuzz/fuzz_job: tests/fuzz/fuzz_job.c src/job.c src/error.c | $(BUILD)/fuzz
	$(QUIET_LINK)$(FUZZ_CC) $(FUZZ_FLAGS) $^ $(MPI_LIBS) $(INIH_LIBS) -lm -o $@
$(BUILD)/fuzz/fuzz_idx: tests/fuzz/fuzz_idx.c src/data.c src/rng.c src/error.c | $(BUILD)/fuzz
	$(QUIET_LINK)$(FUZZ_CC) $(FUZZ_FLAGS) $^ $(HDF5_LIBS) $(MPI_LIBS) $(BLAS_LIBS) $(SCALAPACK_LIBS) $(ZLIB_LIBS) -lm -o $@
$(BUILD)/fuzz:
	$(Q)mkdir -p $@
deps-fuzz:
	@sh tests/deps.sh clang libclang-rt-dev
fuzz: deps deps-fuzz
	@$(MAKE) --no-print-directory $(BUILD)/fuzz/fuzz_job $(BUILD)/fuzz/fuzz_idx
	@mkdir -p fuzz-out/job fuzz-out/idx
	@cp jobs/*.ini tests/jobs/*.ini tests/bad/*.ini fuzz-out/job/ 2>/dev/null || true
	$(BUILD)/fuzz/fuzz_job $(FUZZ_RUN) fuzz-out/job
	$(BUILD)/fuzz/fuzz_idx $(FUZZ_RUN) fuzz-out/idx tests/fuzz/idx-seeds
