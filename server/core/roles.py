"""Operator roles: admin ⊇ provisioner, admin ⊇ desk.

Kept apart from :mod:`server.core.operators` (which needs the database) so the CLI can offer
the role names without loading the storage stack.
"""

from __future__ import annotations

ROLES = ("admin", "provisioner", "desk")


def grants(held: str, needed: str) -> bool:
    """Whether a token of role ``held`` may do what needs role ``needed``."""
    return held == needed or held == "admin"
