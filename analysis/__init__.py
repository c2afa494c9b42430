"""analysis — from an overparam HDF5 archive to tidy tables, signatures and a report.

    from analysis import open_archive
    a = open_archive("results/quick.h5")

analysis/loader.py is the loader, analysis/signatures.py the one signature
engine (`python3 -m analysis.signatures A.h5`), analysis/report.py the report.
"""
from .loader import Archive, open_archive  # noqa: F401
