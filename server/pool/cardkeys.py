"""A pooled card's AKA algorithm with its keys: K and OPc (TOPc for TUAK) decrypted
under the service's KEK, for challenges, evidence appraisal and ``pool verify``.

The plaintext keys live only inside the returned algorithm object, never in a log,
an error or an answer.
"""

from __future__ import annotations

from typing import Protocol

from attest.aka.base import AkaAlgorithm
from attest.aka.milenage import Milenage
from attest.aka.tuak import Tuak
from server.core.service import Service


class CardSecrets(Protocol):
    """What ``card_algorithm`` needs of a card (an ORM ``Card`` or a selected row)."""

    iccid: str
    algorithm: str
    k_enc: bytes
    opc_enc: bytes


def card_algorithm(svc: Service, card: CardSecrets) -> AkaAlgorithm:
    """The card's AKA algorithm with its K and OPc (TOPc for TUAK) decrypted."""
    k = svc.decrypt_secret(card.iccid, card.k_enc)
    opc = svc.decrypt_secret(card.iccid, card.opc_enc)
    if card.algorithm == "tuak":
        return Tuak(k, topc=opc)
    return Milenage(k, opc=opc)
