# report.mk — `make report ARCHIVE=results/x.h5 [REPORT_DIR=dir]`: figures
# (PNG+SVG), report.html (self-contained), report.md and report.json from an
# archive. Included by the main Makefile (-include analysis/report.mk).
PYTHON ?= /usr/bin/python3
ARCHIVE ?= results/quick.h5
REPORT_DIR ?= $(basename $(ARCHIVE))_report

.PHONY: report report-deps
report: report-deps
	$(PYTHON) -m analysis.report $(ARCHIVE) -o $(REPORT_DIR)

# Installs python3-h5py/numpy/matplotlib when root and missing; names them otherwise.
report-deps:
	@$(PYTHON) -c 'import h5py, numpy, matplotlib' 2>/dev/null || \
		sh tests/deps.sh python3-h5py python3-numpy python3-matplotlib
