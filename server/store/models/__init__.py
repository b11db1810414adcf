"""The database's tables (SQLAlchemy 2 typed models), one module per aggregate.

Importing this package registers every table on ``Base.metadata`` (what Alembic's
environment and the schema checks read); callers import the models from here.
Times are timezone-aware UTC everywhere (``UtcDateTime``).

May import: SQLAlchemy only.
"""

from server.store.models.android import HandsetAttestation, RegistrationNonce
from server.store.models.attestations import AlertAcknowledgement, Attestation, RateCounter
from server.store.models.audit import AuditEntry, AuditHead
from server.store.models.base import Base, UtcDateTime, utcnow
from server.store.models.checkouts import Checkout
from server.store.models.idms import (
    IdmsThrottle,
    McIdentity,
    McIdentityAlias,
    McUser,
    totp_aad,
)
from server.store.models.idms_oidc import IdmsClient, IdmsCode, IdmsSignIn
from server.store.models.ims import CxSqn, ImsRegistration
from server.store.models.meta import Meta
from server.store.models.operators import MAX_OPERATOR_LABEL_CHARS, Operator
from server.store.models.pool import Card, Handset, Pairing

__all__ = ["MAX_OPERATOR_LABEL_CHARS", "AlertAcknowledgement", "Attestation", "AuditEntry",
           "AuditHead", "Base", "Card", "Checkout", "CxSqn", "Handset", "HandsetAttestation",
           "IdmsClient", "IdmsCode", "IdmsSignIn", "IdmsThrottle", "ImsRegistration",
           "McIdentity", "McIdentityAlias", "McUser", "Meta", "Operator", "Pairing",
           "RateCounter", "RegistrationNonce", "UtcDateTime", "totp_aad", "utcnow"]
