"""EAR attestation result tokens (draft-ietf-rats-ear), signed as JWT with ES256.

Claims (draft-ietf-rats-ear clause 3, JSON names with underscores as in the current
draft):

- ``eat_profile``: pinned to ``EAT_PROFILE`` = ``tag:ietf.org,2026:rats/ear#04``, the
  value draft-ietf-rats-ear-04 fixes in its CDDL for the EAR claims set (the draft
  revision is part of the tag; ``tag:github.com,2023:veraison/ear`` was the value of the
  individual draft-fv-rats-ear that Veraison implemented first);
- ``iat``, ``exp``: integer seconds (floating-point forbidden by the draft);
- ``ear_verifier_id``: ``{"developer", "build"}`` (draft-ietf-rats-ar4si clause 3.3);
- ``eat_nonce``: the challenge nonce (RFC 9711 clause 4.1);
- ``submods``: ``me``, ``usim``, ``pairing``, each with ``ear_status``,
  ``ear_trustworthiness_vector`` (AR4SI claim name → value) and
  ``ear_appraisal_policy_ids``;
- ``simattest_reasons``: the machine-readable reason codes (an unregistered extension,
  clause 3.4; relying parties may ignore it);
- ``simattest_me``: the handset's hardware facts the ``me`` appraisal used — its key
  kind (``software``, ``tee``, ``strongbox``) and, for an attested handset, boot state,
  bootloader lock and patch levels (an unregistered extension like the one above).

The ``me`` submodule names two policies: the checkout policy and the device policy
(``attest.devicepolicy.DevicePolicy.policy_id``) that judged its hardware facts.

The JWS header carries ``kid`` so that a relying party picks the key from the JWKS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from attest.appraisal import Verdict
from attest.errors import InputError

EAT_PROFILE = "tag:ietf.org,2026:rats/ear#04"
ALGORITHM = "ES256"
_JWS = jwt.PyJWS()
POLICY_ID = "policy:simattest/checkout/v1"


@dataclass(frozen=True, slots=True)
class VerifierId:
    """AR4SI verifier identity (draft-ietf-rats-ar4si clause 3.3)."""

    developer: str
    build: str


def claims(
    verdict: Verdict, *, nonce: str, verifier: VerifierId, iat: int, ttl: int,
    device_policy: str | None = None, me_facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The EAR claims set for one verdict; ``device_policy`` the id of the device policy
    the ``me`` submodule was judged by, ``me_facts`` the ``simattest_me`` extension."""
    extra: dict[str, Any] = {} if me_facts is None else {"simattest_me": me_facts}
    return {
        "eat_profile": EAT_PROFILE,
        "iat": iat,
        "exp": iat + ttl,
        "ear_verifier_id": {"developer": verifier.developer, "build": verifier.build},
        "eat_nonce": nonce,
        "submods": {
            name: {
                "ear_status": sub.status,
                "ear_trustworthiness_vector": dict(sub.vector),
                "ear_appraisal_policy_ids": [POLICY_ID] if name != "me" or
                device_policy is None else [POLICY_ID, device_policy],
            }
            for name, sub in verdict.submods.items()
        },
        "simattest_reasons": verdict.reasons,
        **extra,
    }


def sign(claims_set: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """A compact JWS over ``claims_set`` (ES256, header ``kid``): ``jwt.encode``'s token,
    with the claims serialised by orjson."""
    return _JWS.encode(orjson.dumps(claims_set), key, algorithm=ALGORITHM,
                       headers={"kid": kid, "typ": "JWT"})


def verify(token: str, jwks: dict[str, Any], *, leeway: int = 0) -> dict[str, Any]:
    """Verify a token against a JWKS document the way a relying party does.

    Picks the key by ``kid``, accepts only ES256, checks ``exp``/``iat`` and the pinned
    profile. InputError on any failure (one line, no token contents).
    """
    try:
        header = jwt.get_unverified_header(token)
        keys = jwt.PyJWKSet.from_dict(jwks)
        key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
        if key is None:
            raise InputError(f"EAR: no key with kid {header.get('kid')!r} in the JWKS")
        decoded: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], leeway=leeway,
            options={"require": ["exp", "iat", "eat_profile"]},
        )
    except jwt.PyJWTError as exc:
        raise InputError(f"EAR: {exc}") from exc
    if decoded["eat_profile"] != EAT_PROFILE:
        raise InputError(f"EAR: unexpected eat_profile {decoded['eat_profile']!r}")
    return decoded
