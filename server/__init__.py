"""The service and its programs.  Packages by program (cli, agent, demo) and by
feature (checkout, attestation, pool), over core (the service object) and store (the
database); http serves the features.  docs/ARCHITECTURE.md draws the layers; the
import-linter contracts in pyproject.toml enforce them.

May import: hw, attest.
"""
