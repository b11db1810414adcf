"""Importing SIM vendor batch files into the pool.

Import (``import_batch``): parse (``server.pool.vendorfile``), decrypt secret columns with
the transport key if given (AES-128 ECB per 16-byte block), validate every row,
convert OP to OPc (3GPP TS 35.206 clause 4.1 via ``attest.aka.milenage.opc_from_op``),
encrypt K/OPc/PIN/PUK/ADM under the KEK with the ICCID as associated data, and insert
all cards in one transaction with one bulk INSERT.  All-or-nothing unless
``partial=True``; the report names every rejected line (line, field, reason) and
never a key value.

What a wrong transport key looks like: AES decryption of random keys under a wrong
key gives equally random-looking bytes, so per row it is only detectable when the
file carries redundancy — both OP and OPc (OPc must equal f(K, OP)), or a key check
value of the transport key in the header (``kcv``: the first 3 bytes of AES(key, 0¹²⁸),
the usual KCV convention), or a header ``transport_key`` index saying the columns are
(or are not) encrypted.  Without those a wrong transport key imports wrong keys,
which ``pool verify`` then reports as failed cards.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attest.aka.milenage import opc_from_op
from server.core.errors import Conflict, ServiceError, ValidationError
from server.core.identifiers import check_iccid, check_imsi, check_text
from server.core.keystore import KeyStore
from server.core.service import Service
from server.pool.profiles import known_profiles
from server.pool.registry import UNCHECKED_KEY, UNVERIFIED
from server.pool.vendorfile import ParsedFile, decode, parse
from server.store import audit_chain as audit
from server.store import metastore
from server.store.models import Card, utcnow

# The audit subject "batch:<filename>" fits its column (VARCHAR(200)) with room to spare.
MAX_FILENAME_CHARS = 128
MAX_IMPI_CHARS = 255  # cards.impi is VARCHAR(255)
KNOWN_COLUMNS = ("ICCID", "IMSI", "KI", "OPC", "OP", "ADM1", "PIN1", "PUK1", "IMPI", "IMPU",
                 "PROFILE")
_LOOKUP_CHUNK = 2000
ALREADY_IN_POOL = "already in the pool"


class ImportRejected(ServiceError):
    """All-or-nothing import refused because of rejected rows (nothing was written)."""

    status = 422
    slug = "import-rejected"
    title = "Import rejected"

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            # No hint how to import the good rows: the API, the web page and the CLI
            # each name their own way (``partial``, a checkbox, ``--partial``).
            f"{len(report.rejected)} of {report.rows} rows rejected; nothing imported",
            errors=[r.to_json() for r in report.rejected],
        )
        self.report = report
        # Whether importing "the good rows" (``partial``) would import anything.
        self.extra = {"rows": report.rows, "good_rows": report.rows - len(report.rejected)}


class AlreadyInPool(Conflict):
    """Every card of the file is in the pool already: a batch imported before."""

    slug = "already-in-pool"
    title = "Already in the pool"


class QuantityMismatch(ValidationError):
    """The file's header says how many cards it holds, and its rows disagree (a file
    cut short, or two files joined): nothing is imported."""

    slug = "quantity-mismatch"
    title = "Header quantity disagrees with the rows"


class ImportConflict(ImportRejected):
    """Every rejected row's card is already in the pool (an import sent again): the
    request conflicts with the pool's state rather than being malformed."""

    status = 409

    @staticmethod
    def applies(report: ImportReport) -> bool:
        return all(r.reason.startswith(ALREADY_IN_POOL) for r in report.rejected)


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class ImportReport:
    filename: str
    format: str
    rows: int = 0
    imported: int = 0
    rejected: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    sha256: str = ""
    # The keys were decrypted with a transport key the file gave no check value for: a
    # wrong key cannot be told from the right one until the cards answer AKA.
    transport_key_unchecked: bool = False

    @property
    def warnings(self) -> list[str]:
        """What the officer should know although nothing was refused."""
        found = []
        if self.transport_key_unchecked:
            found.append("the file has no key check value (kcv), so the transport key could "
                         "not be checked: these cards are marked unchecked-key and cannot be "
                         "checked out until 'simattest pool verify' passes on them (cards "
                         "imported under a wrong key can be removed while never paired, and "
                         "imported again)")
        if self.ignored_columns:
            found.append(f"columns ignored (not known to simattest): "
                         f"{', '.join(self.ignored_columns)}")
        return found

    def to_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "format": self.format, "rows": self.rows,
                "imported": self.imported, "rejected": [r.to_json() for r in self.rejected],
                "ignored_columns": self.ignored_columns, "warnings": self.warnings,
                "sha256": self.sha256}


@dataclass
class _Card:
    """One validated row, secrets in plaintext — lives only inside import_batch."""

    line: int
    iccid: str
    imsi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    pin1: bytes | None = field(default=None, repr=False)
    puk1: bytes | None = field(default=None, repr=False)
    adm1: bytes | None = field(default=None, repr=False)
    impi: str | None = None
    impu: str | None = None
    profile: str | None = None


def key_check_value(key: bytes) -> bytes:
    """KCV: first 3 bytes of AES-ECB(key, 16 zero bytes)."""
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 -- KCV definition
    return (enc.update(bytes(16)) + enc.finalize())[:3]


def _unpadded(iccid: str) -> str:
    """A 19-digit ICCID as some vendor files print it: its 10 BCD bytes with the filler
    nibble, ``…F`` (TS 102 221 clause 13.2).  The card reader drops the filler too."""
    return iccid[:-1] if len(iccid) == 20 and iccid[-1] in "Ff" else iccid


class _RowChecker:
    """Turns one raw row into a ``_Card`` or row errors (first error per row)."""

    def __init__(self, parsed: ParsedFile, transport_key: bytes | None) -> None:
        self.columns = set(parsed.columns)
        self.profiles = sorted(known_profiles())
        self.header_op = parsed.header.get("op")
        # ECB: each 16-byte block is decrypted on its own (the vendor convention for
        # transport-key-encrypted Ki/OPc columns), so one decryptor serves every value.
        self._ecb = (Cipher(algorithms.AES(transport_key), modes.ECB()).decryptor()  # noqa: S305
                     if transport_key is not None else None)

    def _key(self, row: dict[str, str], name: str) -> bytes:
        value = row.get(name, "")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValidationError("must be 32 hex digits", field=name) from None
        if len(raw) != 16:
            raise ValidationError(f"must be 16 bytes (32 hex digits), got {len(raw)} bytes",
                                  field=name)
        return raw if self._ecb is None else self._ecb.update(raw)

    @staticmethod
    def _code(row: dict[str, str], name: str, hex_ok: bool = False) -> bytes | None:
        """PIN1/PUK1: 4 to 8 digits (TS 102 221 clause 9.5.1 pads PINs to 8 bytes);
        ADM1: vendors give 8 digits or 16 hex digits, so up to 16 digits or hex."""
        value = row.get(name, "")
        if not value:
            return None
        ok = value.isascii() and (value.isdigit() or (hex_ok and _is_hex(value)))
        longest = 16 if hex_ok else 8
        if not ok or not 4 <= len(value) <= longest:
            kind = "4 to 16 digits or hex digits" if hex_ok else "4 to 8 digits"
            raise ValidationError(f"must be {kind}", field=name)
        return value.encode("ascii")

    def check(self, line: int, row: dict[str, str]) -> _Card:
        iccid = check_iccid(_unpadded(row.get("ICCID", "")), field="ICCID")
        imsi = check_imsi(row.get("IMSI", ""), field="IMSI")
        k = self._key(row, "KI")
        op: bytes | None = None
        if "OP" in self.columns:
            op = self._key(row, "OP")
        elif self.header_op is not None:
            op = _header_op(self.header_op)
        if "OPC" in self.columns:
            opc = self._key(row, "OPC")
            if op is not None and not hmac.compare_digest(opc, opc_from_op(k, op)):
                raise ValidationError("OPC does not match KI and OP (wrong transport key?)",
                                      field="OPC")
        else:
            assert op is not None
            opc = opc_from_op(k, op)
        return _Card(
            line=line, iccid=iccid, imsi=imsi, k=k, opc=opc,
            pin1=self._code(row, "PIN1"), puk1=self._code(row, "PUK1"),
            adm1=self._code(row, "ADM1", hex_ok=True),
            impi=_optional_text(row, "IMPI", MAX_IMPI_CHARS),
            impu=_optional_text(row, "IMPU", MAX_IMPU_CHARS),
            profile=self._profile(row),
        )

    def _profile(self, row: dict[str, str]) -> str | None:
        # Every checkout of a card whose profile no card can match would be refused.
        profile = row.get("PROFILE") or None
        if profile is not None and profile not in self.profiles:
            raise ValidationError(f"unknown profile; the known profiles are "
                                  f"{', '.join(self.profiles)}", field="PROFILE")
        return profile


# cards.impu is TEXT; an EF.IMPU record holds far less (TS 31.103 clause 4.2.4).
MAX_IMPU_CHARS = 4096


def _optional_text(row: dict[str, str], name: str, max_chars: int) -> str | None:
    return check_text(row.get(name, ""), name, max_chars=max_chars, required=False) or None


def _is_hex(value: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in value)


def _key16(value: str, message: str, field: str) -> bytes:
    """A 16-byte key given as hex, or a ValidationError naming the field (never the value)."""
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise ValidationError(message, field=field)
    return key


def _header_op(value: str) -> bytes:
    return _key16(value, "header 'op' must be 32 hex digits", "op")


def _check_file_level(parsed: ParsedFile, transport_key: bytes | None) -> None:
    """Refusals that concern the whole file, before any row."""
    missing = [c for c in ("ICCID", "IMSI", "KI") if c not in parsed.columns]
    if "OPC" not in parsed.columns and "OP" not in parsed.columns and "op" not in parsed.header:
        missing.append("OPC or OP")
    if missing:
        raise ValidationError(f"missing column(s): {', '.join(missing)}", field="columns")
    index = parsed.header.get("transport_key")
    if index is not None:
        encrypted = index.strip() not in ("", "0")
        if encrypted and transport_key is None:
            raise ValidationError(
                f"the file says its keys are encrypted under transport key {index.strip()}; "
                "give the transport key", field="transport_key")
        if not encrypted and transport_key is not None:
            raise ValidationError("the file says its keys are not encrypted, but a transport "
                                  "key was given", field="transport_key")
    _check_quantity(parsed)
    kcv = parsed.header.get("kcv")
    if (kcv is not None and transport_key is not None and not hmac.compare_digest(
            kcv.strip().lower(), key_check_value(transport_key).hex())):
        raise ValidationError("transport key does not match the file's key check value "
                                  "(kcv)", field="transport_key")


def _check_quantity(parsed: ParsedFile) -> None:
    """The header's ``quantity`` (vendor output files) must be the number of card lines."""
    stated = parsed.header.get("quantity")
    if stated is None:
        return
    found = len(parsed.rows) + len(parsed.malformed)
    if not (stated.strip().isascii() and stated.strip().isdigit()):
        raise QuantityMismatch(f"the header's Quantity {stated.strip()!r} is not a number; "
                               "nothing imported", field="quantity")
    if int(stated) != found:
        raise QuantityMismatch(
            f"the header says Quantity: {int(stated)} but the file has {found} card "
            f"line{'s' if found != 1 else ''} (cut short, or joined with another file?); "
            "nothing imported", field="quantity")


def parse_transport_key(hex_value: str) -> bytes:
    return _key16(hex_value, "transport key must be 32 hex digits (AES-128)", "transport_key")


def import_batch(
    svc: Service, data: bytes | str, filename: str, transport_key: bytes | None = None,
    partial: bool = False, *, actor: str,
) -> ImportReport:
    """Import a vendor batch file: parse it, check every row, drop the cards already in
    the pool, insert the others and audit the import.  Raises ``ImportRejected`` (nothing
    written) when a row is bad and ``partial`` is false; otherwise returns the report."""
    filename = check_text(filename, "filename", max_chars=MAX_FILENAME_CHARS, required=True)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    parsed = _parse(raw, transport_key)
    report = _new_report(parsed, raw, filename, transport_key)
    cards = _check(parsed, transport_key, report)
    try:
        with svc.db.session() as session:
            fresh = _drop_existing(session, cards, report)
            report.rejected.sort(key=lambda r: r.line)
            if report.rows and all(r.reason == ALREADY_IN_POOL for r in report.rejected) \
                    and len(report.rejected) == report.rows:
                # every row is good and already imported: nothing is wrong, nothing to do
                raise AlreadyInPool(f"all {report.rows} cards are already in the pool; "
                                    "nothing to do", field="ICCID")
            if report.rejected and not partial:
                raise (ImportConflict if ImportConflict.applies(report) else ImportRejected)(
                    report)
            _insert(svc, session, fresh, filename,
                    UNCHECKED_KEY if report.transport_key_unchecked else UNVERIFIED)
            report.imported = len(fresh)
            audit.append(session, actor, "pool.import", f"batch:{filename}",
                         {"format": report.format, "sha256": report.sha256,
                          "rows": report.rows, "imported": report.imported,
                          "rejected": len(report.rejected), "partial": partial})
    except IntegrityError:
        raise Conflict("another import added some of these cards at the same time; "
                       "nothing imported, retry to see which", field="ICCID") from None
    return report


def _parse(raw: bytes, transport_key: bytes | None) -> ParsedFile:
    """The file's header, columns and rows, or a refusal that concerns the whole file."""
    if transport_key is not None and len(transport_key) != 16:
        raise ValidationError("transport key must be 16 bytes (AES-128)", field="transport_key")
    parsed = parse(decode(raw))
    _check_file_level(parsed, transport_key)
    return parsed


def _new_report(parsed: ParsedFile, raw: bytes, filename: str,
                transport_key: bytes | None) -> ImportReport:
    """The report of the parsed file, naming the lines the parser could not read."""
    report = ImportReport(
        filename=filename, format=parsed.format, rows=len(parsed.rows) + len(parsed.malformed),
        ignored_columns=sorted(set(parsed.columns) - set(KNOWN_COLUMNS)),
        sha256=hashlib.sha256(raw).hexdigest(),
        transport_key_unchecked=transport_key is not None and "kcv" not in parsed.header,
    )
    report.rejected.extend(RowError(line, "line", reason) for line, reason in parsed.malformed)
    return report


def _check(parsed: ParsedFile, transport_key: bytes | None, report: ImportReport
           ) -> list[_Card]:
    """The rows that are valid and not a repeat of an earlier line's ICCID or IMSI; the
    others go into ``report``."""
    checker = _RowChecker(parsed, transport_key)
    cards: list[_Card] = []
    seen_iccid: dict[str, int] = {}
    seen_imsi: dict[str, int] = {}
    for row in parsed.rows:
        try:
            card = checker.check(row.line, row.values)
        except ValidationError as exc:
            report.rejected.append(RowError(row.line, exc.field or "line", exc.detail))
            continue
        if card.iccid in seen_iccid:
            report.rejected.append(RowError(row.line, "ICCID",
                                            f"duplicate of line {seen_iccid[card.iccid]}"))
            continue
        if card.imsi in seen_imsi:
            report.rejected.append(RowError(row.line, "IMSI",
                                            f"duplicate of line {seen_imsi[card.imsi]}"))
            continue
        seen_iccid[card.iccid] = seen_imsi[card.imsi] = row.line
        cards.append(card)
    return cards


def _drop_existing(session: Session, cards: list[_Card], report: ImportReport
                   ) -> list[_Card]:
    """The cards whose ICCID and IMSI are not in the pool yet; the others go into
    ``report``."""
    existing_iccids, existing_imsis = _existing(session, cards)
    fresh: list[_Card] = []
    for card in cards:
        if card.iccid in existing_iccids:
            report.rejected.append(RowError(card.line, "ICCID", ALREADY_IN_POOL))
        elif card.imsi in existing_imsis:
            report.rejected.append(RowError(card.line, "IMSI",
                                            f"{ALREADY_IN_POOL} (another ICCID)"))
        else:
            fresh.append(card)
    return fresh


def _existing(session: Session, cards: list[_Card]) -> tuple[set[str], set[str]]:
    iccids: set[str] = set()
    imsis: set[str] = set()
    for i in range(0, len(cards), _LOOKUP_CHUNK):
        chunk = cards[i:i + _LOOKUP_CHUNK]
        iccids.update(session.scalars(
            select(Card.iccid).where(Card.iccid.in_([c.iccid for c in chunk]))))
        imsis.update(session.scalars(
            select(Card.imsi).where(Card.imsi.in_([c.imsi for c in chunk]))))
    return iccids, imsis


def _insert(svc: Service, session: Session, cards: list[_Card], batch: str,
            verification: str) -> None:
    """Insert ``cards`` with their secrets encrypted under the KEK, in one bulk INSERT."""
    if not cards:
        return
    # The KEK the database names, locked against a concurrent rotation, and adopted if
    # another process rotated it since this one started.
    svc.reload_keys(metastore.locked(session, metastore.KEK_CHECK, exclusive=False))
    session.execute(insert(Card), _encrypted_rows(svc.keys, cards, batch, verification))


def _encrypted_rows(keys: KeyStore, cards: list[_Card], batch: str, verification: str
                    ) -> list[dict[str, Any]]:
    now = utcnow()

    def enc(iccid: str, value: bytes | None) -> bytes | None:
        return None if value is None else keys.encrypt_secret(iccid, value)

    return [
        {"iccid": c.iccid, "imsi": c.imsi, "profile": c.profile, "algorithm": "milenage",
         "k_enc": keys.encrypt_secret(c.iccid, c.k),
         "opc_enc": keys.encrypt_secret(c.iccid, c.opc),
         "pin1_enc": enc(c.iccid, c.pin1), "puk1_enc": enc(c.iccid, c.puk1),
         "adm1_enc": enc(c.iccid, c.adm1), "impi": c.impi, "impu": c.impu,
         "batch": batch, "imported_at": now, "verification": verification,
         "sqn_seq": 0}
        for c in cards
    ]
