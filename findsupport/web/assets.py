"""Front-end files as browsers should get them: versioned names, compressed, cached for a year.

At start-up, :func:`build_assets` copies the pages' files (``static/`` and the
vendored Leaflet and Leaflet.markercluster) once into
``<cache dir>/assets/<digest>/``, each under a name carrying a hash of its
content (``finder.3f9c2a1b7d4e.js``), beside gzip (and Brotli, when the
``brotli`` module is installed) versions made by WhiteNoise's compressor.
Our own scripts and all style sheets are minified on the way (:func:`minify`:
`rJSmin <https://opensource.perlig.de/rjsmin/>`_ and `rCSSmin
<https://opensource.perlig.de/rcssmin/>`_ drop comments and layout, nothing
else), so the sources in ``static/`` stay commented and readable while
browsers get a quarter fewer bytes; Leaflet's scripts come minified.  rJSmin
does not parse JavaScript (it cannot see a template literal inside another's
``${...}``), so a minified script is kept only when Pygments' JavaScript lexer
reads the same tokens in it as in the source; otherwise the script is served
as written and the log says why.

The folder's name is a digest of every source file and the versions of the minifiers
and the lexer, so a new release (or an upgraded Leaflet or minifier) builds a new folder
(its ``manifest.json`` maps logical names to versioned ones), several workers starting together
build it once (each in a temporary folder, renamed into place), and a
running worker never sees it change.  Templates ask for ``asset_url("finder.css")``.
``/static/...`` and ``/vendor/...`` still answer for old links, uncompressed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygments
import rcssmin
import rjsmin
from flask import Flask
from pygments.lexers import JavascriptLexer
from pygments.token import Comment, Text
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from ..config import Settings
from .security import RESOURCE_POLICY

__all__ = ["AssetBundle", "build_assets", "install_assets", "minify", "ASSET_PREFIX", "VERSIONED_MAX_AGE_S", "UNVERSIONED_MAX_AGE_S"]

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
#: In each bundle folder: logical name -> versioned name (what a later start reads instead of minifying again).
MANIFEST = "manifest.json"
#: Scripts that arrive minified (minifying them again saves nothing and would only risk breaking them).
_MINIFIED_UPSTREAM = {"leaflet/leaflet.js", "markercluster/leaflet.markercluster.js"}
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


def minify(name: str, content: bytes) -> bytes:
    r"""``content`` of the file ``name`` as served: scripts and style sheets minified, anything else as it is.

    Comments and whitespace go; ``/*! ... */`` comments (licences) stay, as
    do strings, template literals and regular expressions.  Scripts listed in
    ``_MINIFIED_UPSTREAM`` are left alone, and so is a script whose minified
    form does not read as the same tokens (:func:`_same_tokens`).

    Examples
    --------
    >>> minify("finder.css", b"/* the list */\n.card {\n  margin: 0 auto;\n}\n")
    b'.card{margin:0 auto}'
    >>> minify("a.js", b"// why\nconst greeting = `hi  ${name}`;  /*! MIT */\n")
    b'const greeting=`hi  ${name}`;/*! MIT */'
    >>> minify("a.js", b"const s = `${n === 1 ? 'a day' : `${n}  days`}`;\n")  # rJSmin would lose a space
    b"const s = `${n === 1 ? 'a day' : `${n}  days`}`;\n"
    """
    if name.endswith(".css"):
        return rcssmin.cssmin(content.decode("utf-8"), keep_bang_comments=True).encode("utf-8")
    if not name.endswith((".js", ".mjs")) or name in _MINIFIED_UPSTREAM:
        return content
    source = content.decode("utf-8")
    minified = rjsmin.jsmin(source, keep_bang_comments=True)
    difference = _same_tokens(source, minified)
    if difference is not None:
        log.warning("%s is served unminified: minifying it changed %s", name, difference)
        return content
    return minified.encode("utf-8")


def _tokens(script: str) -> Iterator[str]:
    for kind, value in JavascriptLexer().get_tokens(script):
        if kind in Comment or (kind in Text and not value.strip()):  # what a minifier may drop
            continue
        yield value


def _same_tokens(source: str, minified: str) -> str | None:
    """``None`` when both scripts read as the same tokens, else the first difference (for the log)."""
    before, after = list(_tokens(source)), list(_tokens(minified))
    for position, (old, new) in enumerate(zip(before, after)):
        if old != new:
            return f"token {position} from {old!r} to {new!r}"
    return None if len(before) == len(after) else f"the number of tokens from {len(before)} to {len(after)}"


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
    digest = hashlib.sha256(f"{rjsmin.__version__} {rcssmin.__version__} {pygments.__version__}\0".encode())
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    parent = cache_dir / "assets"
    root = parent / digest.hexdigest()[:16]
    manifest = root / MANIFEST
    if manifest.is_file():  # built by an earlier start or another worker
        return AssetBundle(root, json.loads(manifest.read_text()))
    files = {name: minify(name, content) for name, content in files.items()}
    urls = {name: _versioned_name(name, content) for name, content in files.items()}
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
        (building / MANIFEST).write_text(json.dumps(urls, indent=1, sort_keys=True))  # last: a folder with it is whole
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
