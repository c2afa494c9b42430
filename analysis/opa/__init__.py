"""opa — the report's sections and writers (analysis.report). The archive is
read by analysis.loader; archive.py turns its tables into the arrays by run
the sections draw from.

    from analysis.opa import load, group_by
    a = load("results/quick.h5")
    g = group_by(a.runs, ["width"], ["test_acc", "train_acc"])
"""
from .archive import Archive, load
from .stats import group_by, loglog_fit, spearman

__all__ = ["Archive", "load", "group_by", "spearman", "loglog_fit"]
