"""The provider catalogue: model and validation, the store, imports and exports, the public view, demo data.

Every way in (CSV, GeoJSON, GeoPackage, Python, the demo generator) goes
through the same validation (:func:`validate_row`, or :func:`parse_row` plus
bulk location in an import) and the same transactional write
(:meth:`CatalogStore.write`).  Every later layer reads the
:class:`PublicCatalog` from :meth:`CatalogStore.public_catalog`, which has no
private field at all.

Examples
--------
>>> store = CatalogStore.open(settings)                                          # doctest: +SKIP
>>> report = import_file("providers.csv", store, directory, settings)            # doctest: +SKIP
>>> catalog = store.public_catalog(); len(catalog), catalog.version              # doctest: +SKIP
(998, '3f2a9c0d1e7b4a65')
"""

from .demo import generate_demo_rows, load_demo
from .export import EXPORT_FORMATS, export_catalog
from .importer import ImportReport, Rejection, import_file, import_rows, write_report
from .model import CSV_COLUMNS, DEFAULT_CAPACITY, IMPORT_COLUMNS, REQUIRED_COLUMNS, Contact, Problem, Provider
from .public import PUBLIC_FIELDS, PublicCatalog, PublicProvider
from .readers import FORMATS, RawRow, read_source
from .store import CatalogCounts, CatalogStore, ImportRecord
from .validation import ParsedRow, parse_row, validate_row

__all__ = [
    "CatalogStore",
    "CatalogCounts",
    "ImportRecord",
    "Contact",
    "Provider",
    "Problem",
    "PublicProvider",
    "PublicCatalog",
    "PUBLIC_FIELDS",
    "CSV_COLUMNS",
    "IMPORT_COLUMNS",
    "REQUIRED_COLUMNS",
    "DEFAULT_CAPACITY",
    "ParsedRow",
    "parse_row",
    "validate_row",
    "RawRow",
    "read_source",
    "FORMATS",
    "ImportReport",
    "Rejection",
    "import_file",
    "import_rows",
    "write_report",
    "EXPORT_FORMATS",
    "export_catalog",
    "generate_demo_rows",
    "load_demo",
]
