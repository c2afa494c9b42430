"""Command-line entry of the report: `/usr/bin/python3 -m analysis.report
ARCHIVE -o DIR` from the repository root, or `analysis/report.py ARCHIVE`."""
import os
import sys

if __package__ in (None, ""):   # run as a script: make the analysis package importable
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from analysis.opa.report import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
