"""Parsers for SIM vendor batch files: CSV with a header row, and the "output file".

Both yield ``RawRow(line, values)`` with upper-case column names, so validation is
written once (``server.pool.provisioning``).

The vendor output file (``.out``) as SIM manufacturers deliver it: a header block of
``key: value`` lines (banner lines start with ``*``), then a ``var_out:`` line naming
the columns separated by ``/`` (e.g. ``var_out: ICCID/IMSI/PIN1/PUK1/KI/OPC``), then
one card per line, values separated by whitespace.  Header keys are kept (lower-case)
because some carry facts about the whole batch: ``transport_key`` (the index of the
transport key the secret columns are encrypted under, 0 = plain), an operator-wide
``op``, ``quantity``, and — where the vendor provides one — a key check value of the
transport key (``kcv``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from server.core.errors import ValidationError

# Column name aliases seen in vendor files → the canonical name.
ALIASES = {
    "K": "KI", "KEY": "KI", "OPC_KEY": "OPC", "ADM": "ADM1", "PIN": "PIN1", "PUK": "PUK1",
}


@dataclass(frozen=True)
class RawRow:
    line: int
    values: dict[str, str]


@dataclass
class ParsedFile:
    format: str  # "csv" or "vendor-out"
    columns: list[str]
    header: dict[str, str] = field(default_factory=dict)
    rows: list[RawRow] = field(default_factory=list)
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def canonical(name: str) -> str:
    upper = name.replace("\ufeff", "").strip().upper()
    return ALIASES.get(upper, upper)


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"file is not UTF-8 text (byte {exc.start})", field="file") from None


def _lines(text: str) -> list[str]:
    """The file's lines, whatever ends them: LF, CRLF, CR alone or a mix (what
    ``str.splitlines`` also splits on, such as a form feed, ends a line too)."""
    return text.splitlines()


def parse(text: str) -> ParsedFile:
    """Pick the format: a ``var_out:`` line, a ``*`` banner line or a first line of the
    form ``key: value`` means the vendor output file, else CSV.  (Not only ``var_out:``,
    so that an output file which lost that line is told so, not read as a bad CSV.)"""
    lines = [line for raw in _lines(text) if (line := raw.strip().lower())]
    if any(line.startswith(("var_out", "*")) for line in lines) or (
            lines and ":" in lines[0] and not any(d in lines[0] for d in ",;\t")):
        return parse_vendor_out(text)
    return parse_csv(text)


def _columns(names: list[str]) -> list[str]:
    columns = [canonical(c) for c in names]
    if "" in columns:
        raise ValidationError(f"CSV header column {columns.index('') + 1} has no name",
                              field="file")
    repeated = next((c for i, c in enumerate(columns) if c in columns[:i]), None)
    if repeated is not None:
        raise ValidationError(f"CSV header names column {repeated[:40]} twice", field="file")
    return columns


def parse_csv(text: str) -> ParsedFile:
    """CSV with a header row.  Every line is read on its own (no value spans lines), so a
    stray quote or an odd line ending spoils one row, which becomes a row error."""
    lines = _lines(text)
    first = next((i for i, line in enumerate(lines) if line.strip(" ,;\t\"")), None)
    if first is None:
        raise ValidationError("file is empty (no header row)", field="file")
    header_line = lines[first]
    # The delimiter is whichever of , ; TAB the header uses (CSV from spreadsheets varies).
    delimiter = max(",;\t", key=header_line.count)
    if header_line.count(delimiter) == 0:
        raise ValidationError("CSV header row has only one column; expected ICCID, IMSI, "
                              "KI, OPC ...", field="file")
    try:
        parsed = ParsedFile("csv", _columns(_record(header_line, delimiter)))
    except csv.Error as exc:
        raise ValidationError(f"CSV header row is malformed ({exc})", field="file") from None
    for number, line in enumerate(lines[first + 1:], start=first + 2):
        try:
            record = _record(line, delimiter)
        except csv.Error as exc:
            parsed.malformed.append((number, f"malformed CSV ({exc})"))
            continue
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(parsed.columns):
            parsed.malformed.append(
                (number, f"expected {len(parsed.columns)} values, got {len(record)}"))
            continue
        parsed.rows.append(RawRow(number, {c: v.strip() for c, v in zip(
            parsed.columns, record, strict=True)}))
    return parsed


def _record(line: str, delimiter: str) -> list[str]:
    """One CSV line's values (RFC 4180 quoting, strictly; ``csv.Error`` otherwise)."""
    return next(csv.reader([line], delimiter=delimiter, strict=True), [])


def parse_vendor_out(text: str) -> ParsedFile:
    header: dict[str, str] = {}
    parsed: ParsedFile | None = None
    for number, raw in enumerate(_lines(text), start=1):
        line = raw.strip()
        if not line or line.startswith("*"):
            continue
        if parsed is None:
            key, sep, value = line.partition(":")
            if not sep:
                raise ValidationError(f"line {number}: expected a 'key: value' header line or "
                                      "the 'var_out:' line naming the columns", field="file")
            if key.strip().lower() == "var_out":
                columns = [canonical(c) for c in value.split("/") if c.strip()]
                if not columns:
                    raise ValidationError(f"line {number}: var_out names no columns",
                                          field="file")
                parsed = ParsedFile("vendor-out", columns, header)
            else:
                header[key.strip().lower()] = value.strip()
            continue
        values = line.split()
        if len(values) != len(parsed.columns):
            parsed.malformed.append(
                (number, f"expected {len(parsed.columns)} values, got {len(values)}"))
            continue
        parsed.rows.append(RawRow(number, dict(zip(parsed.columns, values, strict=True))))
    if parsed is None:
        raise ValidationError("no 'var_out:' line naming the columns", field="file")
    return parsed



def format_vendor_out(
    columns: list[str], rows: list[dict[str, str]], header: dict[str, str] | None = None,
) -> str:
    """Write a vendor output file (the inverse of ``parse_vendor_out``).

    Used to generate batches for the demo, tests and benchmarks; values are written as
    given (encrypt secret columns before calling when the batch has a transport key).
    """
    lines = ["*" * 40, "* HEADER DESCRIPTION", "*" * 40]
    lines += [f"{key}: {value}" for key, value in (header or {}).items()]
    lines += ["*" * 40, "* OUTPUT VARIABLES", "*" * 40, "var_out: " + "/".join(columns)]
    lines += [" ".join(row[c] for c in columns) for row in rows]
    return "\n".join(lines) + "\n"
