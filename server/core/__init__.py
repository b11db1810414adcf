"""The service object every feature gets (``service.Service``: data directory, database,
keys, attestation store) and its configuration, the error hierarchy with problem types,
operators and roles, identifier checks, and the audit use cases.

May import: store, attest.
"""
