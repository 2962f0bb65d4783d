"""Front-end files as browsers should get them: versioned names, compressed, cached for a year.

At start-up, :func:`build_assets` copies the pages' files (``static/`` and the
vendored Leaflet and Leaflet.markercluster) once into
``<cache dir>/assets/<digest>/``, each under a name carrying a hash of its
content (``finder.3f9c2a1b7d4e.js``), beside gzip (and Brotli, when the
``brotli`` module is installed) versions made by WhiteNoise's compressor.
:func:`install_assets` serves that folder at ``/assets/`` with `WhiteNoise
<https://whitenoise.readthedocs.io/>`_, which picks the encoding the browser
accepts and sends versioned files with ``Cache-Control: public,
max-age=31536000, immutable``: a changed file gets a new name, so a year of
caching never serves a stale one.  Leaflet's images and source map keep their
names (its CSS and script refer to them relatively) and are cached for a day.

The folder's name is a digest of every source file, so a new release (or an
upgraded Leaflet) builds a new folder, several workers starting together
build it once (each in a temporary folder, renamed into place), and a
running worker never sees it change.  Templates ask for ``asset_url("finder.css")``.
``/static/...`` and ``/vendor/...`` still answer for old links, uncompressed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from ..config import Settings
from .security import RESOURCE_POLICY

__all__ = ["AssetBundle", "build_assets", "install_assets", "ASSET_PREFIX", "VERSIONED_MAX_AGE_S", "UNVERSIONED_MAX_AGE_S"]

log = logging.getLogger(__name__)

#: Where the bundle is served.
ASSET_PREFIX = "/assets/"
#: A versioned name never changes content: a year (the longest browsers honour) and immutable.
VERSIONED_MAX_AGE_S = 365 * 86_400
#: Files that keep their names (Leaflet's images) change only with a Leaflet upgrade: a day.
UNVERSIONED_MAX_AGE_S = 86_400
#: Characters of a content hash in a versioned name (48 bits: collisions do not happen by accident).
HASH_CHARS = 12
#: Files of static/ that keep a fixed public URL of their own instead (club pages link to widget.js).
_NOT_BUNDLED = {"widget.js"}
#: Leaflet files the pages load (the rest of the packages: sources and maps for developers).
_VENDOR_FILES = {
    "leaflet": ("leaflet.css", "leaflet.js", "leaflet.js.map", "images/*.png"),
    "markercluster": ("MarkerCluster.css", "leaflet.markercluster.js"),
}
#: Versioned names: ``name.<hash>.ext``.
_VERSIONED = re.compile(rf"\.[0-9a-f]{{{HASH_CHARS}}}\.[a-z0-9]+$")


@dataclass(frozen=True)
class AssetBundle:
    """A built asset folder and the URL of each file in it.

    ``urls`` maps a logical name (``"finder.css"``, ``"leaflet/leaflet.css"``)
    to its path under :data:`ASSET_PREFIX` (``"finder.3f9c2a1b7d4e.css"``).
    """

    root: Path
    urls: dict[str, str]

    def url(self, name: str) -> str:
        """The URL path of a logical name (``KeyError`` for a file that is not bundled)."""
        return ASSET_PREFIX + self.urls[name]


def _sources(static_dir: Path, vendor: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    for path in sorted(static_dir.iterdir()):
        if path.is_file() and path.name not in _NOT_BUNDLED:
            yield path.name, path
    for library, patterns in _VENDOR_FILES.items():
        for pattern in patterns:
            for path in sorted(vendor[library].glob(pattern)):
                yield f"{library}/{path.relative_to(vendor[library]).as_posix()}", path


def _versioned_name(name: str, content: bytes) -> str:
    if name.endswith((".png", ".map")):  # referred to by relative URLs (Leaflet's CSS, its script's source map)
        return name
    stem, dot, extension = name.rpartition(".")
    return f"{stem}.{hashlib.sha256(content).hexdigest()[:HASH_CHARS]}{dot}{extension}"


def build_assets(cache_dir: Path, static_dir: Path, vendor: dict[str, Path]) -> AssetBundle:
    """Copy, version and compress the front-end files into ``cache_dir/assets/<digest>`` (once per content).

    Parameters
    ----------
    cache_dir : Path
        A writable folder kept between starts (the settings' cache dir).
    static_dir : Path
        The package's ``static/`` folder.
    vendor : dict
        Library name to the folder of its files (:func:`findsupport.web.pages.vendor_folders`).
    """
    files = {name: path.read_bytes() for name, path in _sources(static_dir, vendor)}
    digest = hashlib.sha256()
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    urls = {name: _versioned_name(name, content) for name, content in files.items()}
    parent = cache_dir / "assets"
    root = parent / digest.hexdigest()[:16]
    if root.is_dir():
        return AssetBundle(root, urls)
    parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=parent))
    try:
        compressor = Compressor(quiet=True, log=log.debug)
        for name, content in files.items():
            target = building / urls[name]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            if compressor.should_compress(target.name):
                list(compressor.compress(str(target)))
        os.chmod(building, 0o755)
        try:
            building.rename(root)
        except OSError:
            if not root.is_dir():  # not another worker's identical bundle: a real failure
                raise
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    log.info("front-end assets built in %s", root)
    return AssetBundle(root, urls)


def _headers(headers, path: str, url: str) -> None:  # noqa: ANN001 (wsgiref Headers)
    # WhiteNoise answers before Flask sees the request: the headers every resource gets (see security.py).
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    headers["Content-Security-Policy"] = RESOURCE_POLICY


def install_assets(app: Flask, settings: Settings) -> AssetBundle:
    """Build the bundle, serve it at :data:`ASSET_PREFIX` and give templates ``asset_url(name)``."""
    from .pages import vendor_folders

    bundle = build_assets(settings.resolved_cache_dir, Path(__file__).parent / "static", vendor_folders())
    app.wsgi_app = WhiteNoise(  # type: ignore[method-assign]
        app.wsgi_app,
        root=str(bundle.root),
        prefix=ASSET_PREFIX,
        max_age=UNVERSIONED_MAX_AGE_S,
        allow_all_origins=True,
        immutable_file_test=lambda path, url: bool(_VERSIONED.search(url)),
        add_headers_function=_headers,
    )
    app.jinja_env.globals["asset_url"] = bundle.url
    return bundle
