"""analysis — from an overparam HDF5 archive to figures and a report.

The reusable package is analysis/opa (loader, grouping, statistics); this
top-level package only exists so that `python3 -m analysis.report` works
from the repository root.
"""
