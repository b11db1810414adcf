"""The API's typed request models: every JSON body, path and query parameter it takes.

Each is a pydantic v2 model; ``server.http.api.body`` validates requests with them and
``server.http.api.openapi`` writes their JSON Schema into the OpenAPI document, so the
document states exactly the rules the handlers enforce.  The limits are the storage's:
a string is no longer than its column, an integer no larger than its column holds, and
text that is stored or logged has no control characters (NUL included: PostgreSQL
refuses it).

Rules JSON Schema cannot express are named ``format``s (``FORMATS``, described in the
document); the tests register a generation strategy for each with schemathesis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from server.attestation.alerts import MAX_NOTE_CHARS
from server.attestation.challenge import MAX_CLOCK_SKEW_MS
from server.attestation.handset_keys import MAX_SIGNATURE_CHARS
from server.attestation.views import STATUS_FILTERS
from server.checkout.desk import MAX_USER_CHARS
from server.core.errors import ValidationError
from server.core.identifiers import check_iccid, check_imei, check_imeisv
from server.idms.credentials import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from server.idms.users import MAX_NAME_CHARS, check_mc_id, check_sip_uri
from server.pool.provisioning import MAX_FILENAME_CHARS
from server.pool.registry import (
    MAX_LABEL_CHARS,
    MAX_LOST_NOTE_CHARS,
    MAX_PAGE,
    VERIFICATION_STATES,
)

# INTEGER columns (checkouts.id, pairings.id, handsets.id) hold at most this; BIGINT
# ones (audit_entries.seq) INT64_MAX.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# Formats beyond JSON Schema's own, with what they mean (the document's description).
FORMATS = {
    "imei": "15 ASCII digits whose last is the Luhn check digit over the first 14 "
            "(3GPP TS 23.003 clause 6.2.1)",
    "iccid": "18 to 20 ASCII digits whose last is the Luhn check digit over the rest "
             "(ITU-T E.118)",
    "printable": "text of printable characters only: no control, format, surrogate or "
                 "separator characters other than the space (Python's str.isprintable)",
    "device-public-key": "a device public key, PEM SubjectPublicKeyInfo: Ed25519 or EC "
                         "P-256 (printable characters and line breaks)",
    "recent-time-ms": "milliseconds since the Unix epoch, within "
                      f"{MAX_CLOCK_SKEW_MS // 1000} s of the service's clock",
    "vendor-batch": "a SIM vendor batch file's text: CSV with a header row (ICCID, IMSI, "
                    "KI, OPC ...) or a vendor output file with a 'var_out:' line",
    "mc-id": "an MC ID: 1 to 255 of the characters A-Z a-z 0-9 . _ + @ -, the first a "
             "letter or digit (stored lower-cased)",
    "sip-uri": "a SIP URI sip:user@domain (RFC 3261 clause 19.1, no parameters): the user "
               "part of unreserved characters, & = + $ , ; ? / or %HH escapes; the domain "
               "DNS labels (letters, digits, inner hyphens) separated by dots",
    "password": "a password: 12 to 256 printable characters (format printable)",
}


class RequestModel(BaseModel):
    """A JSON body: strict types (no "5" for 5, no 5.0 for 5, no true for 1), no unknown
    members; input values never appear in error messages."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True,
                              hide_input_in_errors=True)


class ParameterModel(RequestModel):
    """Path or query parameters: strings as they arrive, integers from ASCII digits only
    (``ParamInt``)."""


def _formatted(name: str) -> Any:
    return Field(json_schema_extra={"format": name})


def _checked_by(check: Callable[[str], str]) -> AfterValidator:
    """A string checked by the service's own identifier check, so the API and the service
    refuse it in the same words (the document states it with a pattern and format)."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except ValidationError as exc:
            raise ValueError(exc.detail) from None

    return AfterValidator(validate)


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must be printable text (no control characters)")
    return value


def _pem_text(value: str) -> str:
    if not value.replace("\r", "").replace("\n", "").isprintable():
        raise ValueError("must be PEM text (printable characters and line breaks)")
    return value


def ascii_int(text: str, maximum: int) -> int | None:
    """``text`` as a non-negative int of at most ``maximum`` if it is ASCII decimal digits
    only (``int()`` alone would take ``"３５"``, ``" 5"`` or ``"5_0"``, and
    ``str.isdigit`` is true for ``"²"``), else None."""
    if text.isascii() and text.isdigit() and len(text) <= len(str(maximum)):
        value = int(text)
        return value if value <= maximum else None
    return None


def _ascii_int(value: Any) -> Any:
    """A parameter's digits as an int (its bounds are checked after); anything else that
    is a string is refused here."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > len(str(INT64_MAX)):
            raise ValueError("expected ASCII decimal digits")
        return int(value)
    return value


Imei = Annotated[str, _checked_by(check_imei),
                 Field(json_schema_extra={"pattern": r"^[0-9]{15}$", "format": "imei"})]
Iccid = Annotated[str, _checked_by(check_iccid),
                  Field(json_schema_extra={"pattern": r"^[0-9]{18,20}$", "format": "iccid"})]
Imeisv = Annotated[str, _checked_by(check_imeisv),
                   Field(json_schema_extra={"pattern": r"^[0-9]{16}$"})]
AttestationId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Hex = r"^(?:[0-9a-fA-F]{2})+$"


def printable(max_length: int, *, min_length: int = 0, pattern: str | None = None) -> Any:
    """Printable text of ``min_length`` to ``max_length`` characters (format ``printable``)."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length, pattern=pattern),
                     AfterValidator(_printable), _formatted("printable")]


# Something besides spaces: the service trims what a person typed.
_NOT_BLANK = r"\S"
ParamInt = Annotated[int, BeforeValidator(_ascii_int)]


# --- registry ---------------------------------------------------------------------------

class NewHandset(RequestModel):
    """A handset to register with its device public key.  ``imeisv``, when given, is the
    IMEI's first 14 digits followed by the 2-digit software version (TS 23.003 clause
    6.2.2)."""

    imei: Imei
    public_key: Annotated[str, Field(max_length=4096), AfterValidator(_pem_text),
                          _formatted("device-public-key")]
    imeisv: Imeisv | None = None
    label: printable(MAX_LABEL_CHARS) = ""  # type: ignore[valid-type]


class NewPairing(RequestModel):
    imei: Imei
    iccid: Iccid


class ImeiPath(ParameterModel):
    imei: Imei


class IccidPath(ParameterModel):
    iccid: Iccid


class Paging(ParameterModel):
    offset: ParamInt = Field(0, ge=0, le=INT32_MAX)
    limit: ParamInt = Field(50, ge=1, le=MAX_PAGE)


class HandsetQuery(Paging):
    search: printable(100) = ""  # type: ignore[valid-type]


class CardQuery(HandsetQuery):
    verification: Literal[VERIFICATION_STATES] | None = None  # type: ignore[valid-type]


# --- provisioning -----------------------------------------------------------------------

class NewImport(RequestModel):
    """A vendor batch file to import (``content`` is its text)."""

    filename: printable(MAX_FILENAME_CHARS, min_length=1)  # type: ignore[valid-type]
    content: Annotated[str, Field(min_length=1), _formatted("vendor-batch")]
    transport_key: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")] | None = None
    partial: bool = False


# --- checkouts ----------------------------------------------------------------------------

class NewCheckout(RequestModel):
    attestation_id: AttestationId
    user: printable(MAX_USER_CHARS, min_length=1, pattern=_NOT_BLANK)  # type: ignore[valid-type]


class CheckoutQuery(Paging):
    open: Literal["true", "false"] = Field(
        "false", description="true: only checkouts not returned yet")
    imei: Imei | None = Field(None, description="only this handset's")


class CheckoutPath(ParameterModel):
    checkout_id: ParamInt = Field(ge=1, le=INT32_MAX)


# --- attestations -------------------------------------------------------------------------

class AttestationPath(ParameterModel):
    attestation_id: AttestationId


class AlertQuery(ParameterModel):
    offset: ParamInt = Field(0, ge=0, le=INT32_MAX)
    limit: ParamInt = Field(50, ge=1, le=500)


class AttestationQuery(Paging):
    imei: Imei | None = Field(None, description="only this handset's")
    status: Literal[STATUS_FILTERS] | None = Field(  # type: ignore[valid-type]
        None, description="only this verdict (none: not appraised yet)")


class NewAcknowledgement(RequestModel):
    """Why the alert needs no further action."""

    note: printable(MAX_NOTE_CHARS, min_length=1, pattern=_NOT_BLANK)  # type: ignore[valid-type]


class ChallengeRequest(RequestModel):
    """Signed with the handset's device key.  Only a request the key registered for the
    IMEI signed, at a time later than any of the handset's requests taken before, counts
    against the handset's per-IMEI limit and gets a challenge for its card; any other
    (forged, replayed, unregistered IMEI) gets a decoy challenge, answered alike."""

    imei: Imei
    signed_at: Annotated[int, Field(
        ge=0, le=INT64_MAX, description="the handset's clock, milliseconds since the Unix "
                                        "epoch"), _formatted("recent-time-ms")]
    signature: Annotated[_Signature, Field(description=(
        "base64url signature (as for evidence) over the canonical JSON (keys sorted, no "
        'spaces, UTF-8) of {"imei": imei, "purpose": "simattest challenge request v1", '
        '"signed_at": signed_at}'))]


# A device signature: base64url without padding, of a length some bytes encode to (not
# 4n+1).
_Signature = Annotated[str, Field(max_length=MAX_SIGNATURE_CHARS,
                                  pattern=r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$")]


# EF.UST/EF.IST service numbers (attest.evidence: 1..1024, ascending, unique).
_Services = Annotated[list[Annotated[int, Field(ge=1, le=1024)]],
                      Field(max_length=1024, json_schema_extra={"uniqueItems": True})]
_Uri = printable(255, min_length=1)


class Isim(RequestModel):
    impi: _Uri | None  # type: ignore[valid-type]
    impu: Annotated[list[_Uri], Field(max_length=254)]  # type: ignore[valid-type]
    ist: _Services


class Success(RequestModel):
    outcome: Literal["success"]
    res: Annotated[str, Field(min_length=8, max_length=32, pattern=Hex)]


class SyncFailure(RequestModel):
    outcome: Literal["sync_failure"]
    auts: Annotated[str, Field(min_length=28, max_length=28, pattern=Hex)]


class MacFailure(RequestModel):
    outcome: Literal["mac_failure"]


class Evidence(RequestModel):
    """Signed by the device key over its canonical JSON (keys sorted, no spaces, UTF-8).
    ``ust`` and ``isim.ist`` list service numbers in ascending order."""

    attestation_id: AttestationId
    nonce: Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
    imei: Annotated[str, Field(pattern=r"^[0-9]{15}$")]
    imeisv: Imeisv | None
    iccid: Annotated[str, Field(pattern=r"^[0-9]{18,20}$")]
    imsi: Annotated[str, Field(pattern=r"^[0-9]{6,15}$")]
    # A range, not Literal[2, 3]: a literal would take 2.0 for 2.
    mnc_length: Annotated[int, Field(ge=2, le=3)] | None
    ust: _Services
    prose: bool
    isim: Isim | None
    outcome: Annotated[Success | SyncFailure | MacFailure, Field(discriminator="outcome")]


class EvidenceSubmission(RequestModel):
    evidence: Evidence
    signature: _Signature


# --- identity management (server.idms) ----------------------------------------------------

McId = Annotated[str, _checked_by(check_mc_id), Field(max_length=255), _formatted("mc-id")]
SipUri = Annotated[str, Field(max_length=255), _formatted("sip-uri")]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_CHARS,
                                max_length=MAX_PASSWORD_CHARS),
                     AfterValidator(_printable), _formatted("password")]


def _sip(field: str) -> AfterValidator:
    return _checked_by(lambda value: check_sip_uri(value, field))


class NewMcUser(RequestModel):
    """An MC user for the directory.  With ``totp``, the answer carries the TOTP
    provisioning URI, once."""

    mc_id: McId
    mcptt_id: Annotated[SipUri, _sip("mcptt_id")]
    display_name: printable(MAX_NAME_CHARS, min_length=1, pattern=_NOT_BLANK)  # type: ignore[valid-type]
    password: Password
    agency: printable(MAX_NAME_CHARS) = ""  # type: ignore[valid-type]
    mcvideo_id: Annotated[SipUri, _sip("mcvideo_id")] | None = None
    mcdata_id: Annotated[SipUri, _sip("mcdata_id")] | None = None
    totp: bool = False


class McUserPath(ParameterModel):
    mc_id: McId


class McUserQuery(Paging):
    search: printable(100) = ""  # type: ignore[valid-type]
    enabled: Literal["true", "false"] | None = Field(
        None, description="only enabled (true) or disabled (false) users")


class NewPassword(RequestModel):
    password: Password


class Disabling(RequestModel):
    reason: printable(MAX_NAME_CHARS) = ""  # type: ignore[valid-type]


class LostReport(RequestModel):
    """What is known of the loss (or, clearing it, of the handset's return)."""

    note: printable(MAX_LOST_NOTE_CHARS) = ""  # type: ignore[valid-type]


class SignInPath(ParameterModel):
    identity_id: ParamInt = Field(ge=1, le=INT32_MAX)
