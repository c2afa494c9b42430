"""Report building blocks: a Section (text, tables, figures, signatures)
and small helpers shared by the section modules."""
import numpy as np


class Section:
    """One report section. tables: list of (title, header, rows) with rows of
    plain values; signatures: list of Signature."""

    def __init__(self, key, title, text=""):
        self.key, self.title, self.text = key, title, text
        self.tables, self.figures, self.signatures = [], [], []

    def table(self, title, header, rows):
        self.tables.append((title, list(header), [list(r) for r in rows]))

    def sign(self, phenomenon, measured, expected, holds):
        self.signatures.append(Signature(phenomenon, measured, expected, holds))


class Signature:
    """A phenomenon's signature: measured text, expected text, holds (bool/None)."""

    def __init__(self, phenomenon, measured, expected, holds):
        self.phenomenon, self.measured, self.expected, self.holds = phenomenon, measured, expected, holds

    def verdict(self):
        return "n/a" if self.holds is None else ("yes" if self.holds else "no")


def last_finite(a):
    """Last finite value along the last axis of a 2-D array (NaN if none)."""
    a = np.asarray(a, float)
    out = np.full(a.shape[0], np.nan)
    for i, row in enumerate(a):
        ok = np.flatnonzero(np.isfinite(row))
        if ok.size:
            out[i] = row[ok[-1]]
    return out


def fmt(v, digits=6):
    """Number as text with `digits` significant digits ('nan' for NaN)."""
    if v is None:
        return "n/a"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return "nan" if not np.isfinite(v) else f"{v:.{digits}g}"


def other_axes(archive, exclude):
    """Swept axes with more than one value, except `exclude` and seed."""
    return [a for a in archive.swept() if a not in exclude and a != "seed"
            and a in archive.runs.dtype.names and len(archive.grid[a]) > 1]


def key_label(archive, axes, row):
    """'axis=label, ...' for one grouped row."""
    return ", ".join(f"{a}={archive.label(a, row[a])}" for a in axes) or "all runs"
