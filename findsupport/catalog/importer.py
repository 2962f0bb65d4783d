"""Importing a catalogue: read, validate every row, resolve locations in bulk, commit the good rows.

A bad row never stops the good ones and is never silently dropped: every
problem becomes a :class:`Rejection` (row number, column, reason), the good
rows are committed in one transaction, and the :class:`ImportReport` says
what happened.  The demo catalogue comes in through :func:`import_rows` too.

Providers' own edits (the manage page) meet imports by the rule of
:mod:`.edits`: per field, an edit stands until the operator's file changes
that field's value; every edit an import overrides or discards is in the
report's ``edit_notices``.  A row whose provider withdrew consent through their
manage page is rejected (``--readmit ID`` once they have given consent again).

Examples
--------
>>> report = import_file("providers.csv", store, directory, settings)    # doctest: +SKIP
>>> report.record.added, report.rejected_rows, report.describe(report.rejections[0])  # doctest: +SKIP
(998, 2, 'line 5: postcode: NE21 4LQ is not a postcode we know. Did you mean NE21 4LZ?')
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..geo import PostcodeDirectory
from .bulk import collector_paused
from .edits import EditNotice
from .locate import locate_rows
from .model import Problem, Provider
from .readers import PROGRESS_EVERY_ROWS, RawRow, read_source
from .spreadsheet import neutralise
from .store import CatalogStore, ImportRecord
from .validation import ParsedRow, cell_text, is_provider_id, parse_row_for_import, withdraws_consent

__all__ = ["Rejection", "ImportReport", "import_file", "import_rows", "write_report"]

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reason a row was not imported (a row with three problems has three)."""

    number: int
    column: str
    reason: str
    provider_id: str | None = None


@dataclass(frozen=True)
class ImportReport:
    """What an import did: the committed record and every rejection, in row order.

    ``unit`` is what ``Rejection.number`` counts: ``line`` (CSV, as an editor
    shows it: the header is line 1), ``feature`` (spatial files) or ``row``.
    ``listed`` is how many providers the catalogue lists after the import
    (consented and not paused: what a search can find).  ``unremoved`` holds the
    numbers of unreadable rows whose id could not be told: a ``--replace``
    import then removes no one, since it cannot know whose row they are.
    ``edit_notices`` lists each provider's own edit the import overrode or
    discarded (:mod:`.edits`), by provider and field.
    """

    source: str
    format: str
    unit: str
    rows: int
    rejections: tuple[Rejection, ...]
    rejected_rows: int
    record: ImportRecord
    listed: int
    unremoved: tuple[int, ...] = ()
    edit_notices: tuple[EditNotice, ...] = ()

    @property
    def imported(self) -> int:
        """Rows that passed validation (added, updated or already identical)."""
        return self.rows - self.rejected_rows

    @property
    def ok(self) -> bool:
        return self.rejected_rows == 0

    def describe(self, rejection: Rejection) -> str:
        """``"line 5: postcode: ..."``: one rejection as a person reads it."""
        column = f"{rejection.column}: " if rejection.column else ""
        return f"{self.unit} {rejection.number}: {column}{rejection.reason}"

    def summary(self) -> str:
        """One line: how many imported, what changed, how many rejected."""
        r = self.record
        text = (
            f"{self.imported:,} of {self.rows:,} {self.unit}s imported from {self.source} "
            f"({r.added:,} added, {r.updated:,} updated, {r.unchanged:,} unchanged"
        )
        if r.replace:
            text += f", {r.removed:,} removed"
            if r.kept:
                text += f", {r.kept:,} kept because their rows were rejected"
        text += ")"
        if self.unremoved:
            shown = ", ".join(str(n) for n in self.unremoved[:3]) + (", ..." if len(self.unremoved) > 3 else "")
            text += (
                f"; --replace removed no one: {self.unit} {shown} could not be read, so whose rows they are "
                "is unknown (fix them and import again)"
            )
        if r.withdrawn:
            text += f"; {r.withdrawn:,} unlisted because their rejected rows withdraw consent"
        if self.edit_notices:
            text += (
                f"; {len(self.edit_notices):,} of the providers' own edits replaced by the file or discarded "
                "(listed above)"
            )
        text += f"; the catalogue now lists {self.listed:,} providers"
        if r.providers > self.listed:
            text += f" ({r.providers - self.listed:,} more are stored but not listed: no consent, or paused)"
        if self.rejected_rows:
            text += f"; {self.rejected_rows:,} {self.unit}s rejected"
        return text


def import_file(
    path: str | os.PathLike[str],
    store: CatalogStore,
    directory: PostcodeDirectory,
    settings: Settings,
    *,
    replace: bool = False,
    layer: str | None = None,
    readmit: Collection[str] = (),
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV, GeoJSON or GeoPackage file into the store.

    ``readmit`` names providers who withdrew consent through their manage page
    and have given it again; their rows are imported instead of rejected.

    Raises
    ------
    ImportRejected
        The file as a whole cannot be read (nothing is changed).
    """
    with collector_paused():
        source = read_source(path, layer=layer, progress=progress)
    return import_rows(
        source.rows,
        store,
        directory,
        settings,
        source=Path(path).name,
        format=source.format,
        unit=source.unit,
        replace=replace,
        readmit=readmit,
        progress=progress,
    )


def import_rows(
    rows: Sequence[RawRow],
    store: CatalogStore,
    directory: PostcodeDirectory,
    settings: Settings,
    *,
    source: str,
    format: str,
    unit: str = "row",
    replace: bool = False,
    readmit: Collection[str] = (),
    progress: Progress | None = None,
) -> ImportReport:
    """Validate rows, resolve their locations in bulk and commit the good ones in one transaction.

    Ids must be unique: a repeated id rejects the later row (naming the first).
    With ``replace`` the catalogue becomes exactly the good rows, except that
    a provider whose row was rejected keeps their stored version.  A rejected
    row that says ``consent=false`` still unlists the provider: a withdrawal
    of consent never waits for a typo to be fixed.  A row of a provider who
    withdrew through their manage page is rejected unless ``readmit`` names them.
    """
    with collector_paused():
        return _import_rows(rows, store, directory, settings, source, format, unit, replace, frozenset(readmit), progress)


def _import_rows(
    rows: Sequence[RawRow],
    store: CatalogStore,
    directory: PostcodeDirectory,
    settings: Settings,
    source: str,
    format: str,
    unit: str,
    replace: bool,
    readmit: frozenset[str],
    progress: Progress | None,
) -> ImportReport:
    problems: dict[int, list[Problem]] = {}
    parsed: list[tuple[int, ParsedRow]] = []
    first_seen: dict[str, int] = {}
    ids: list[str | None] = []
    unidentified: list[int] = []
    for k, row in enumerate(rows):
        provider_id = cell_text(row.values.get("id"))
        ids.append(provider_id)
        if not row.readable:  # nothing to validate: the reader said why
            problems[k] = list(row.problems)
            if not is_provider_id(provider_id):  # read leniently: only an id-shaped guess is trusted
                unidentified.append(row.number)
            continue
        result, own = parse_row_for_import(row.values, settings, point=row.point, service_area=row.area)
        found = [*row.problems, *own]
        if provider_id is not None:
            if provider_id in first_seen:
                found.append(
                    Problem("id", f"id {provider_id!r} is already used on {unit} {first_seen[provider_id]}; ids must be unique")
                )
            else:
                first_seen[provider_id] = row.number
        if found:
            problems[k] = found
        if result is not None:
            # A row with other problems is still located, so all of its problems are reported.
            parsed.append((k, result))
        if progress and (k + 1) % PROGRESS_EVERY_ROWS == 0:
            progress(f"checked {k + 1:,} of {len(rows):,} {unit}s")
    withdrawn = store.withdrawn_ids(set(first_seen) - readmit)
    for k, provider_id in enumerate(ids):
        if provider_id in withdrawn:
            day = withdrawn[provider_id].date().isoformat()
            problems.setdefault(k, []).append(Problem("id", (
                f"{provider_id} withdrew consent through their manage page on {day} and their data was deleted; "
                "remove their row from the file (or, only if they have given consent again, "
                f"import with --readmit {provider_id})"
            )))  # fmt: skip
    if progress and len(rows) >= PROGRESS_EVERY_ROWS:
        progress(f"locating {len(parsed):,} providers")
    good: list[Provider] = []
    for (k, _), located in zip(parsed, locate_rows([p for _, p in parsed], directory, settings)):
        if isinstance(located, list):
            if located:
                problems.setdefault(k, []).extend(located)
        elif k not in problems:
            good.append(located)
    rejections = tuple(
        Rejection(rows[k].number, problem.column, problem.reason, ids[k])
        for k in sorted(problems)
        for problem in problems[k]
    )
    keep_ids = {ids[k] for k in problems if ids[k] is not None}
    withdraw_ids = {ids[k] for k in problems if ids[k] is not None and withdraws_consent(rows[k].values)}
    # With --replace, an unreadable row whose id is unknown could be anyone's:
    # removing "everyone not in the file" could then remove them.
    unremoved = tuple(unidentified) if replace else ()
    record = store.write(
        good,
        source=source,
        format=format,
        replace=replace and not unremoved,
        rows=len(rows),
        rejected=len(problems),
        keep_ids=keep_ids,
        withdraw_ids=withdraw_ids,
        readmit=readmit,
        progress=progress,
    )
    return ImportReport(
        source=source,
        format=format,
        unit=unit,
        rows=len(rows),
        rejections=rejections,
        rejected_rows=len(problems),
        record=record,
        listed=store.listed_count(),
        unremoved=unremoved,
        edit_notices=tuple(store.edit_notices(record.id)),
    )


def write_report(path: str | os.PathLike[str], report: ImportReport) -> None:
    """Write the rejections as CSV (``line``/``feature``, ``column``, ``id``, ``reason``), atomically.

    Text cells are neutralised against spreadsheet formula injection: the
    reasons echo values from the imported file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([report.unit, "column", "id", "reason"])
            for r in report.rejections:
                writer.writerow([r.number, neutralise(r.column), neutralise(r.provider_id or ""), neutralise(r.reason)])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
