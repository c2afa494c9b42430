# bench/bench.mk — `make bench`: builds the benchmark programs and prints
# one table (also written to bench/RESULTS.md). Included by the Makefile.
#   make bench                 n = 4096 kernels (2-core default)
#   make bench BENCH_N=8192    the issue's size (needs ~10x the time)
BENCH_N ?= 4096
BENCH_EIG_N ?= 2048
BENCH_THREADS ?= 1
BENCH_NP ?= 2
BENCH_DIR = $(BUILD)/bench
BENCH_BIN = $(BENCH_DIR)/bench_blas $(BENCH_DIR)/bench_train $(BENCH_DIR)/bench_kernel $(BENCH_DIR)/bench_archive $(BENCH_DIR)/bench_pack $(BENCH_DIR)/bench_pack_job $(BENCH_DIR)/bench_entk

$(BENCH_DIR):
	mkdir -p $@

$(BENCH_DIR)/%: bench/%.c $(BUILD)/liboverparam.a $(SAN_OBJ) | $(BENCH_DIR)
	$(QUIET_LINK)$(call LINK,$<)

bench: all $(BENCH_BIN)
	@BUILD=$(BUILD) BENCH_N=$(BENCH_N) BENCH_EIG_N=$(BENCH_EIG_N) \
	  BENCH_THREADS=$(BENCH_THREADS) BENCH_NP=$(BENCH_NP) PYTHON=$(PYTHON) \
	  MPIRUN="$(MPIRUN)" sh bench/run_bench.sh
