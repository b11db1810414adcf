"""The device side of checkout: the agent that reads the handset's card, answers the
challenge with AUTHENTICATE and signs the evidence (``checkout``), and the JSON-over-HTTP
client to the service (``client``, also used by the CLI's HTTP commands).

May import: hw, attest and requests — never Flask, SQLAlchemy or the service's packages.
"""
