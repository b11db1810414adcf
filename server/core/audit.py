"""The audit log's use cases: verifying the hash chain (``simattest audit verify``).

The chain itself — entries, hashing, appending in the caller's transaction, the walk
that checks it — lives with the tables in ``server.store.audit_chain``.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.core.service import Service
from server.store import audit_chain
from server.store.audit_chain import ChainReport, Checkpoint


def verify(svc: Service, checkpoints: Sequence[Checkpoint] = ()) -> ChainReport:
    """Walk the whole chain of ``svc``'s database; name the first entry whose link or
    hash is wrong, or that differs from a checkpoint written down earlier."""
    return audit_chain.verify_chain(svc.db, checkpoints)
