"""Identity management (TS 33.180): the MC user directory, MC user credentials, and the
MCPTT-specific identities (IMPI2, IMPU2, alias IMPUs) allocated per checkout with the
seed's mapping IMPI1 ↔ IMPI2 ↔ IMPU2 ↔ MCPTT ID ↔ IMEI ↔ checkout ↔ card.

- ``users``: the directory (add, list, disable, enable, reset a password, TOTP).
- ``credentials``: Argon2id passwords, TOTP, and ``verify_credentials`` with its
  growing per-user and per-address delays (the design is in that module's docstring).
- ``identities``: ``allocate_identities``, ``identities_valid``, ``end_identities``,
  ``settle``, the look-ups by IMPI2 and by IMPU2, ``prune``; IMPI1 per TS 23.003.
- ``desk``: what the desk, API and CLI call for the actions that end identities or
  that the directory changes: ``start_checkout`` (names an MC user of the directory
  when identity management is enabled), ``return_checkout``, ``report_lost``,
  ``clear_lost``.
- ``oidc``: the OpenID Connect side (TS 33.180 Annex B): registered clients,
  authorization codes, sign-ins and their refresh tokens, introspection's and the
  identities endpoint's view, the MCPTT server's look-up; ``server.http.idms`` speaks
  the protocol with authlib.
- ``tokens``: the token signing key (derived from the KEK) and a resource server's
  check of an access token and its certificate binding.

How identities end (every consumer — the OpenID Connect provider's refresh and
introspection, the Cx peer's MAR, the MCPTT server's look-up — follows this):

1. **Validity is derived on every read**, never trusted from a flag alone.  A mapping
   is live only while all of these hold, checked in the one statement that reads it
   (``identities.invalid_reason``): ``ended_at`` is NULL; its checkout is not returned; the
   checkout still names this MC user; the handset is not reported lost; the MC user is
   enabled; and the handset's newest appraised attestation is affirming (a
   contraindicated — or any non-affirming — attestation after the checkout's ends it
   at once).  ``checkout`` and ``attestation`` sit below this package and cannot call
   it: they only change their own rows, and the next read here sees it.
2. **``ended_at``/``end_reason`` record the end** for retention and for the Cx peer's
   Registration-Termination-Requests: the functions here that end identities record it
   in the same transaction as their change (``desk.return_checkout`` "returned",
   ``desk.report_lost`` "lost", ``users.disable_user`` "user-disabled",
   ``end_identities`` with an admin's reason); ends that happened below (an attestation,
   a return through a path that bypassed this package) are recorded by ``settle``,
   which returns what it ended (a Cx peer calls it periodically and sends RTRs for
   those) and which ``prune`` calls first.  Retention counts from ``ended_at``.
3. Ended mappings are never revived: a new sign-in on the same checkout allocates new
   identities.  IMPI2, IMPU2, aliases and the instance id are 128-bit ``secrets``
   values, unique in the database while their row exists (never handed out twice;
   after pruning, a repeat is as likely as guessing a 128-bit key).

May import: checkout, attestation, pool, core, store, attest.
"""
