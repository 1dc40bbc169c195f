"""Readers for CRM export files (CSV, XLSX, JSON), yielding ``(row number, record)`` one at a time.

CSV exports come from spreadsheets and Chinese CRMs as UTF-8, UTF-8 with a BOM (Excel's
"CSV UTF-8") or GBK/GB18030 (Excel on a Chinese Windows, most domestic CRMs). The encoding is
taken from the BOM, else UTF-8 if a sample decodes as UTF-8, else guessed by
charset-normalizer; GB2312 and GBK guesses are read as GB18030, their superset, so a rare
character outside GB2312 does not break the whole file.

Row numbers are what a person sees in a spreadsheet: the CSV header is row 1, so the first
record is row 2 (a quoted cell spanning lines is still one row). JSON records are numbered
from 1 in the order of the list.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

SAMPLE_BYTES = 64 * 1024
#: Key under which a CSV row keeps cells beyond the header's columns, so nothing is lost.
EXTRA_CELLS_KEY = "_extra_cells"
_GB_FAMILY = {"gb2312", "gbk", "gb18030"}

Record = tuple[int, Any]


class SourceError(ValueError):
    """The file as a whole cannot be read (unknown encoding, not JSON, wrong shape)."""


def read_records(path: str | Path, encoding: str | None = None) -> Iterator[Record]:
    """Records of a ``.csv`` or ``.json`` export, chosen by file suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, encoding)
    if suffix == ".xlsx":
        return read_xlsx(path)
    if suffix == ".json":
        return read_json(path, encoding)
    raise SourceError(f"{path.name}: unsupported file type {suffix!r} (use .csv, .xlsx or .json)")


def detect_encoding(path: str | Path) -> str:
    """The text encoding of ``path``, judged from its first :data:`SAMPLE_BYTES`."""
    with open(path, "rb") as file:
        sample = file.read(SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # Incremental, not final: the sample may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    guess = from_bytes(sample).best()
    if guess is None:
        raise SourceError(f"{Path(path).name}: cannot tell the text encoding; "
                          "save the file as UTF-8 and try again")
    encoding = codecs.lookup(guess.encoding).name
    return "gb18030" if encoding in _GB_FAMILY else encoding


def read_csv(path: str | Path, encoding: str | None = None) -> Iterator[Record]:
    """Rows of a CSV file with a header row, as ``(row number, {column: cell})``.

    Cells are strings; a short row simply lacks the trailing columns, and cells beyond the
    header are kept as a list under :data:`EXTRA_CELLS_KEY`.
    """
    encoding = encoding or detect_encoding(path)
    try:
        with open(path, encoding=encoding, newline="") as file:
            reader = csv.DictReader(file, restkey=EXTRA_CELLS_KEY)
            for index, row in enumerate(reader, start=2):
                yield index, {key: value for key, value in row.items() if value is not None}
    except UnicodeDecodeError as error:
        raise SourceError(f"{Path(path).name}: not valid {encoding} after the first "
                          f"{SAMPLE_BYTES // 1024} KiB ({error.reason}); "
                          "save the file as UTF-8 and try again") from error


def read_xlsx(path: str | Path, sheet: str | None = None) -> Iterator[Record]:
    """Rows of the first (or the named) sheet of an Excel workbook, header in row 1.

    openpyxl's read-only mode streams the sheet's XML, so memory stays flat for large
    exports. Numbers stay numbers and dates become ISO-8601 text (naive, as Excel has no
    zones: map them with ``local_time``); empty cells are left out.
    """
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, OSError, KeyError) as error:
        raise SourceError(f"{Path(path).name}: not an Excel workbook: {error}") from error
    try:
        rows = (workbook[sheet] if sheet else workbook.worksheets[0]).iter_rows(values_only=True)
        header = [str(cell) if cell is not None else "" for cell in next(rows, ())]
        for index, row in enumerate(rows, start=2):
            record = {name: _cell(value) for name, value in zip(header, row, strict=False)
                      if name and value is not None and value != ""}
            if record:
                yield index, record
    finally:
        workbook.close()


def _cell(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def read_json(path: str | Path, encoding: str | None = None) -> Iterator[Record]:
    """Records of a JSON export: a list of objects, or an object with a ``records`` list.

    The file is decoded whole (no streaming JSON parser among the dependencies); exports of
    100k customers are tens of megabytes, which is fine. Items that are not objects are still
    yielded, so the mapping reports them as invalid rows instead of failing the file.
    """
    encoding = encoding or detect_encoding(path)
    try:
        data = json.loads(Path(path).read_text(encoding=encoding))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SourceError(f"{Path(path).name}: not valid JSON: {error}") from error
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list):
        raise SourceError(f'{Path(path).name}: expected a list of records or {{"records": [...]}}')
    yield from enumerate(data, start=1)
