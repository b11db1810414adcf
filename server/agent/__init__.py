"""The device side of checkout: the agent that reads the handset's card, answers the
challenge with AUTHENTICATE and signs the evidence (``checkout``), and the JSON-over-HTTP
client to the service (``client``, also used by the CLI's HTTP commands), and the
handset's IMS registration with its MCPTT-specific identities (``ims``, on the small
SIP implementation of ``sip``: REGISTER with Digest AKAv1-MD5).

May import: hw, attest and requests — never Flask, SQLAlchemy or the service's packages.
"""
