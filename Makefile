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
BLAS_CFLAGS ?= $(call pc,--cflags,openblas)
BLAS_LIBS ?= $(call pc,--libs,openblas)
INIH_LIBS ?= $(call pc,--libs,inih)
ZLIB_LIBS ?= $(call pc,--libs,zlib)
CHECK_CFLAGS ?= $(call pc,--cflags,check)
CHECK_LIBS ?= $(call pc,--libs,check)

OPT ?= -O2 -g
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L -D_XOPEN_SOURCE=700 -Wall -Wextra $(OPT) -Iinclude \
	$(MPI_CFLAGS) $(HDF5_CFLAGS) $(BLAS_CFLAGS)
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS_SAN = -fsanitize=address,undefined
BUILD := $(BUILD)-san
endif
CFLAGS += $(CFLAGS_BASE)
LIBS = $(SCALAPACK_LIBS) $(HDF5_LIBS) $(MPI_LIBS) $(BLAS_LIBS) $(INIH_LIBS) $(ZLIB_LIBS) -lm

GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
VERSION := 0.1.0
CFLAGS += -DOP_VERSION=\"$(VERSION)\" -DOP_GIT_REV=\"$(GIT_REV)\"
# The objects that embed the revision (archive attribute, --version) are
# rebuilt when it changes: a stamp file rewritten only on a new revision.
REV_STAMP := $(BUILD)/git_rev
$(shell mkdir -p $(BUILD) && (echo '$(GIT_REV)' | cmp -s - $(REV_STAMP) || echo '$(GIT_REV)' > $(REV_STAMP)))

LIB_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all run check test unit-test mpi-test deps config bench clean report slurm-test fuzz

all: $(BUILD)/overparam

$(BUILD)/obj/archive.o $(BUILD)/obj/cli.o: $(REV_STAMP)

$(BUILD)/obj/%.o: src/%.c $(wildcard include/overparam/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

# The kernel recursion's column loops must vectorize (sqrt needs
# -fno-math-errno, selects need -fno-trapping-math: nothing here reads
# errno or the floating-point exception flags).
$(BUILD)/obj/kernel.o: CFLAGS += -O3 -fno-math-errno -fno-trapping-math

$(BUILD)/liboverparam.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/overparam: src/main.c $(BUILD)/liboverparam.a
	$(CC) $(CFLAGS) $< $(BUILD)/liboverparam.a $(LIBS) $(LDFLAGS_SAN) -o $@

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/liboverparam.a | $(BUILD)/tests
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) $< $(BUILD)/liboverparam.a $(LIBS) $(CHECK_LIBS) $(LDFLAGS_SAN) -o $@

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

# The Debian packages this project needs; `make deps` installs the missing
# ones when run as root and otherwise names them.
DEB_PKGS = gcc make libopenmpi-dev openmpi-bin libscalapack-openmpi-dev libopenblas-dev \
	libhdf5-openmpi-dev hdf5-tools check libinih-dev zlib1g-dev pkg-config \
	dataset-fashion-mnist
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

check: deps deps-python
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@BUILD=$(BUILD) MPIRUN="$(MPIRUN)" sh tests/run_tests.sh $(TEST_BIN)

clean:
	rm -rf $(BUILD) $(BUILD)-san

# Targets owned by the other top-level folders.
-include analysis/report.mk
-include slurm/slurm.mk
-include bench/bench.mk

# libFuzzer targets (clang from Debian): `make fuzz FUZZ_SECONDS=600`.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 \
	-D_POSIX_C_SOURCE=200809L -D_XOPEN_SOURCE=700 -Iinclude $(MPI_CFLAGS) $(HDF5_CFLAGS) $(BLAS_CFLAGS)
$(BUILD)/fuzz/fuzz_job: tests/fuzz/fuzz_job.c src/job.c src/error.c | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ $(MPI_LIBS) $(INIH_LIBS) -lm -o $@
$(BUILD)/fuzz/fuzz_idx: tests/fuzz/fuzz_idx.c src/data.c src/rng.c src/error.c | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ $(MPI_LIBS) $(BLAS_LIBS) $(SCALAPACK_LIBS) $(ZLIB_LIBS) -lm -o $@
$(BUILD)/fuzz:
	mkdir -p $@
fuzz: $(BUILD)/fuzz/fuzz_job $(BUILD)/fuzz/fuzz_idx
	@mkdir -p fuzz-out/job fuzz-out/idx
	@cp jobs/*.ini tests/jobs/*.ini tests/bad/*.ini fuzz-out/job/ 2>/dev/null || true
	$(BUILD)/fuzz/fuzz_job -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 fuzz-out/job
	$(BUILD)/fuzz/fuzz_idx -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 fuzz-out/idx tests/fuzz/idx-seeds
