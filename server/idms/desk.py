"""The desk's actions that identity management takes part in — the ones the desk pages,
the API and the CLI call (thin: one of these per action):

- ``start_checkout``: with identity management enabled (``[idms] enabled``), the user
  must be an enabled MC user of the directory, named by MC ID, and the checkout records
  which (``checkouts.mc_user_id``); otherwise the free-text user as before.
- ``return_checkout``: the return and the end of the checkout's identities
  ("returned"), in one transaction.
- ``report_lost`` / ``clear_lost``: the handset's lost-or-stolen state (it blocks
  checkouts until cleared), ending its identities ("lost") in the same transaction.
- ``sign_ins``: who signed in on a checkout, when, with which IMPU2 (valid or why not);
  ``end_sign_in``: an admin ends one sign-in's identities ("ended-by-admin").
"""

from __future__ import annotations

from typing import Any

from server.checkout import desk as checkout_desk
from server.checkout.desk import CheckoutView
from server.core.errors import NotFound
from server.core.service import Service
from server.idms.identities import (
    ENDED_BY_ADMIN,
    LOST,
    RETURNED,
    McIdentities,
    end_for_checkout,
    end_for_handset,
    end_identities,
    identities_for_checkout,
    lookup_by_id,
)
from server.idms.users import enabled_user
from server.pool import registry
from server.store.models import Checkout


def start_checkout(svc: Service, attestation_id: str, user: str, actor: str
                   ) -> CheckoutView:
    """Hand the attested handset to ``user``: an MC ID of the directory when identity
    management is enabled (404 not in it, 409 disabled), else free text."""
    if not svc.config.idms.enabled:
        return checkout_desk.start_checkout(svc, attestation_id, user, actor)
    with svc.db.read_session() as session:
        mc_user = enabled_user(session, user)
        mc_id, mc_user_id = mc_user.mc_id, mc_user.id
    return checkout_desk.start_checkout(svc, attestation_id, mc_id, actor,
                                        mc_user_id=mc_user_id)


def return_checkout(svc: Service, checkout_id: int, actor: str) -> CheckoutView:
    """The handset is back at the desk: the checkout ends, and its identities with it."""
    with svc.db.session() as session:
        view = checkout_desk.return_in(session, checkout_id, actor)
        end_for_checkout(session, checkout_id, RETURNED, actor)
        return view


def report_lost(svc: Service, imei: str, *, actor: str, note: str = "") -> dict[str, Any]:
    """Report the handset lost or stolen: no checkout until cleared, and its
    identities end now.  Returns the handset (``registry.handset_json``) with the
    identities ended."""
    with svc.db.session() as session:
        handset = registry.mark_lost(session, imei, actor=actor, note=note)
        ended = end_for_handset(session, handset.id, LOST, actor)
        return {**registry.handset_json(handset),
                "identities_ended": [e.impu2 for e in ended]}


def clear_lost(svc: Service, imei: str, *, actor: str, note: str = "") -> dict[str, Any]:
    """Clear the handset's lost/stolen report: it may be checked out again."""
    with svc.db.session() as session:
        return registry.handset_json(registry.clear_lost(session, imei, actor=actor,
                                                         note=note))


def end_sign_in(svc: Service, identity_id: int, *, actor: str) -> McIdentities:
    """End one sign-in's identities now (an admin at the desk); ending one that has
    ended already changes nothing."""
    with svc.db.session() as session:
        end_identities(session, identity_id, ENDED_BY_ADMIN, actor=actor)
        found = lookup_by_id(session, identity_id)
        if found is None:
            raise NotFound(f"sign-in {identity_id} does not exist", field="identity_id")
        return found


def sign_ins(svc: Service, checkout_id: int) -> list[McIdentities]:
    """The sign-ins (identity mappings) of a checkout, newest first; 404 no checkout."""
    with svc.db.read_session() as session:
        if session.get(Checkout, checkout_id) is None:
            raise NotFound(f"checkout {checkout_id} does not exist", field="checkout_id")
        return identities_for_checkout(session, checkout_id)
