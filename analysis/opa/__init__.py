"""opa — overparam analysis: read an archive into numpy and group its runs.

    import sys; sys.path.insert(0, "analysis")
    import opa
    a = opa.load("results/quick.h5")
    g = opa.group_by(a.runs, ["width"], ["test_acc", "train_acc"])
"""
from .archive import Archive, load
from .stats import group_by, spearman, loglog_fit, rankdata
from .kernels import load_kernels

__all__ = ["Archive", "load", "group_by", "spearman", "loglog_fit",
           "rankdata", "load_kernels"]
