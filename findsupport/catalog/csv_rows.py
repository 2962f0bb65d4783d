"""Reading a provider CSV file into numbered rows, one bad record never stopping the others.

Only the header can reject the file (unreadable, UTF-16, not UTF-8 or not CSV,
unknown or missing columns).  Rows are numbered as a person finds them: the
line an editor shows the record starting on (the header is line 1; quoted line
breaks counted).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..errors import ImportRejected
from .model import REQUIRED_COLUMNS, SERVICE_AREA_COLUMN, Problem
from .source_rows import PROGRESS_EVERY_ROWS, Progress, RawRow, SourceRows, check_columns

__all__ = ["read_csv"]

#: Line breaks as an editor counts them (``\r\n``, ``\n`` or a lone ``\r``), and
#: as the csv module ends records; ``str.splitlines`` would also split on U+2028,
#: form feeds and others, which a bio may hold.
_LINE_ENDS = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")
#: The other characters ``str.splitlines`` splits on; without them it is the faster way.
_OTHER_LINE_ENDS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
#: Byte order marks of UTF-16 files (Excel's "Unicode text"), rejected with advice
#: rather than read as a header of NUL bytes.
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: Bytes that are not UTF-8 are kept as lone surrogates (``surrogateescape``) so
#: the row holding them can be rejected on its own.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_SAVE_AS_UTF8 = "save the file as 'CSV UTF-8' and import again"
#: The columns whose values may hold a line break (validation refuses one anywhere
#: else): a record whose line break falls in another column is a quote left open.
_MULTILINE_COLUMNS = frozenset({"bio", SERVICE_AREA_COLUMN})


def _physical_lines(text: str) -> list[str]:
    lines = _LINE_ENDS.split(text) if _OTHER_LINE_ENDS.search(text) else text.splitlines(keepends=True)
    if lines and not lines[-1]:
        lines.pop()
    return lines


def _undecodable_byte(text: str) -> int | None:
    """The first byte that was not UTF-8 (kept by ``surrogateescape``), or ``None``."""
    found = _UNDECODABLE.search(text)
    return None if found is None else ord(found.group()) - 0xDC00


def _readable(text: str) -> str:
    """Text with undecodable bytes shown as U+FFFD, safe to print and to write as UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _broken_reason(error: csv.Error, first: int, last: int) -> str:
    """Why the record starting on line ``first`` is not CSV (the reader noticed on line ``last``)."""
    message = str(error)
    where = "" if last == first else f" (noticed on line {last})"
    if "unexpected end of data" in message:
        return (
            'a quoted value opened on this line is never closed (a quote (") left open?); '
            "the lines after it were read as rows of their own"
        )
    if "expected after" in message and last != first:
        return (
            f'a quoted value that starts on this line does not end where its cell does{where}: a quote (") '
            'left open, or stray inside a value? Inside a quoted value write a quote twice (""); the lines '
            "after this one were read as rows of their own"
        )
    if "expected after" in message:
        return (
            'a quoted value ends before its cell does: a quote (") stray inside a value? Inside a quoted '
            'value write a quote twice ("")'
        )
    return f"this record is not valid CSV{where} ({message})"


def _guess_id(line: str, header: tuple[str, ...]) -> str | None:
    """The id cell of a line that is not valid CSV, read leniently (so ``--replace`` can keep them)."""
    if "id" not in header:  # pragma: no cover - check_columns requires an id column
        return None
    try:
        cells = next(csv.reader([line.rstrip("\r\n")], strict=False), [])
    except csv.Error:
        return None
    position = header.index("id")
    if position >= len(cells):
        return None
    guess = _readable(cells[position]).strip()
    return guess or None


def read_csv(path: Path, progress: Progress | None = None, *, progress_every: int = PROGRESS_EVERY_ROWS) -> SourceRows:
    """Rows of a UTF-8 CSV file with a header row (DESIGN.md's provider columns).

    Only the header can stop the file.  Everything one record can get wrong is
    that record's problem, and the records before and after it are read as
    usual:

    * a value of any length is read (validation then names the column and its limit);
    * bytes that are not UTF-8 reject the row they are in, naming the column and the byte;
    * a record that is not valid CSV (a quote left open, or stray inside a quoted
      value) is reported at the line it starts on, and reading starts again on the
      next line: a quote left open hides none of the rows after it.  If the record
      really did span several lines (a quoted bio with line breaks), its other lines
      are read as rows of their own and rejected too;
    * a record spanning several lines with more cells than the header, or with a
      line break in a column other than bio or service_area, is read the same way
      (a quote left open that a later quote happened to close);
    * a line repeating the header (two files joined) is reported, not imported.

    Line breaks may be ``\r\n``, ``\n`` or ``\r``, mixed; NUL bytes are ordinary
    characters that validation refuses in the columns where they matter.
    ``progress`` hears "read N rows" every ``progress_every`` rows.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportRejected(f"{path.name} cannot be read: {exc.strerror}.") from None
    if raw.startswith(_UTF16_BOMS):
        raise ImportRejected(f"{path.name} is UTF-16 text (Excel's 'Unicode Text'); {_SAVE_AS_UTF8}.")
    try:
        text = raw.decode("utf-8")
        damaged = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
        damaged = True
    text = text.removeprefix("\ufeff")
    lines = _physical_lines(text)
    # The csv module's limit on one value (131,072 characters by default) would stop
    # the whole file at one long bio.  No value can be longer than the file, which is
    # in memory already; the limit is process-wide, so it is only ever raised.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    header: tuple[str, ...] | None = None
    rows: list[RawRow] = []

    def broken(first: int, reason: str) -> None:
        if header is None:
            raise ImportRejected(
                f"{path.name}: the header on line {first} is not valid CSV ({reason}). Nothing was imported."
            )
        guess = _guess_id(lines[first - 1], header)
        values = {"id": guess} if guess else {}
        rows.append(RawRow(number=first, values=values, problems=(Problem("", reason),), readable=False))

    position = 0  # lines consumed (so the next record starts on line position + 1)
    total = len(lines)
    while position < total:
        start = position
        reader = csv.reader(map(lines.__getitem__, range(start, total)), strict=True)
        try:
            for record in reader:
                first, position = position + 1, start + reader.line_num
                if not any(cell.strip() for cell in record):
                    continue  # blank lines and rows of empty cells hold nothing to lose
                if header is None:
                    header = _csv_header(record, path.name, first, damaged)
                    continue
                if position > first and (suspect := _suspect_record(record, header)):
                    broken(
                        first,
                        f"this record runs to line {position} and {suspect}: a quote (\") left open?; "
                        "the lines after it were read as rows of their own",
                    )
                    position = first  # read again from the next line
                    break
                rows.append(_csv_row(record, first, header, damaged))
                if progress and len(rows) % progress_every == 0:
                    progress(f"read {len(rows):,} rows")
        except csv.Error as exc:
            first = position + 1
            broken(first, _broken_reason(exc, first, start + reader.line_num))
            position = first  # read again from the line after the one the record started on
    if header is None:
        raise ImportRejected(
            f"{path.name} is empty: the first line must be the header ({', '.join(REQUIRED_COLUMNS)}, ...)."
        )
    return SourceRows(format="csv", unit="line", columns=header, rows=rows)


def _suspect_record(record: list[str], header: tuple[str, ...]) -> str | None:
    """Why a record spanning several lines looks like a quote left open, or ``None``."""
    if len(record) > len(header):
        return f"has {len(record)} cells for {len(header)} columns"
    for column, cell in zip(header, record):
        if column not in _MULTILINE_COLUMNS and ("\n" in cell or "\r" in cell):
            return f"its {column} holds a line break"
    return None


def _csv_header(record: list[str], name: str, line: int, damaged: bool) -> tuple[str, ...]:
    """The checked header, or :class:`ImportRejected` (the header is the one line that can stop a file)."""
    for cell in record if damaged else ():
        byte = _undecodable_byte(cell)
        if byte is not None:
            raise ImportRejected(
                f"{name} is not UTF-8 text: the header (line {line}) has the byte {byte:#04x}; {_SAVE_AS_UTF8}."
            )
    if len(record) == 1 and ";" in record[0]:
        raise ImportRejected(
            f"{name}: the header separates columns with ';'. Columns are separated by "
            "commas (';' separates items inside roles, events and availability)."
        )
    return check_columns(record, name, spatial=False)


def _csv_row(record: list[str], number: int, header: tuple[str, ...], damaged: bool) -> RawRow:
    """One record as a row, with what the reader can already tell is wrong with it."""
    problems: list[Problem] = []
    if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
        problems.append(
            Problem(
                "",
                f"the row has {len(record)} cells but the header has {len(header)} columns "
                "(an unquoted comma in a value?)",
            )
        )
    values = dict(zip(header, record))
    if damaged:
        for column, cell in values.items():
            byte = _undecodable_byte(cell)
            if byte is not None:
                values[column] = _readable(cell)
                problems.append(
                    Problem(column, f"{column} is not UTF-8 text: it has the byte {byte:#04x}; {_SAVE_AS_UTF8}")
                )
    if record[0].strip().lower() == header[0] and tuple(cell.strip().lower() for cell in record) == header:
        return RawRow(
            number=number,
            values={},
            problems=(Problem("", "this line repeats the header (two files joined together?)"),),
            readable=False,
        )
    return RawRow(number=number, values=values, problems=tuple(problems))
