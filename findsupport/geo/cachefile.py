"""Cache files of the geo package (the postcode directory, the district outlines), written atomically.

A cache is read by every process that starts, while another may be writing a
newer one: a file is written beside its final name and renamed into place, so a
reader sees the old file or the new one, never half of either.  ``.npz`` with
no pickles, so a cache file can never run code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["save_npz_atomically"]


def save_npz_atomically(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], *, prefix: str) -> None:
    """Write ``arrays`` as one ``.npz`` at ``path``: into a temporary file beside it, then renamed.

    Parameters
    ----------
    path : path-like
        The cache file; its folder must exist.
    arrays : mapping of str to ndarray
        Plain arrays (no object arrays: they would need pickles to read back).
    prefix : str
        Start of the temporary file's name, so a stray one says what it was.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> save_npz_atomically(folder / "x.npz", {"a": np.arange(3)}, prefix=".x-")
    >>> np.load(folder / "x.npz")["a"].tolist(), [p.name for p in folder.iterdir()]
    ([0, 1, 2], ['x.npz'])
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
