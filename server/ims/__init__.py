"""The IMS side of MC identity management: the IdM as the MCPTT domain's Cx server
(3GPP TS 29.228 / TS 29.229) for an S-CSCF.

- ``config`` — ``CxConfig``, the ``[cx]`` section checked once (origin host and realm,
  listen address, allowed peers, the IdM's own IND slot);
- ``vectors`` — MAR: IMS AKA vectors for an IMPI2 from the K/OPc of the card behind its
  IMPI1, SQNs from the IdM's own IND slot reserved atomically, resynchronisation from
  RAND‖AUTS;
- ``registration`` — SAR: the registration state of each IMPU2 at its S-CSCF, the
  ``IMSSubscription`` User-Data (``subscription``), the registrations to terminate (RTR)
  when identities end, the operators' view;
- ``cx`` — the Diameter peer itself on python-diameter (CER/CEA, DWR/DWA, DPR/DPA from
  the library; Cx requests and answers, peer checks, RTR sending);
- ``metrics`` — Prometheus counters by command and result code;
- ``kamailio`` — Kamailio's S-CSCF (``deploy/kamailio/``) and the Cx peer started together
  on loopback: the IMS core of the tests and of ``make demo``.

May import: idms, checkout, attestation, pool, core, store, hw, attest.
"""
