# bench/bench.mk — `make bench`: one table of ratios (see bench/RESULTS.md).
BENCH_BIN = $(BUILD)/bench
BENCH_PROGS = $(BENCH_BIN)/train_bench $(BENCH_BIN)/pkernel_bench
.PHONY: bench bench-progs

$(BENCH_BIN):
	mkdir -p $@

$(BENCH_BIN)/%: bench/%.c $(BUILD)/liboverparam.a | $(BENCH_BIN)
	$(CC) $(CFLAGS) $< $(BUILD)/liboverparam.a $(LIBS) $(LDFLAGS_SAN) -o $@

bench-progs: $(BUILD)/overparam $(BENCH_PROGS)

bench: bench-progs
	BUILD=$(BUILD) MPIRUN="$(MPIRUN)" PYTHON=$(PYTHON) sh bench/run.sh
