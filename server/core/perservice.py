"""A feature's own state per open ``Service`` in this process (caches, copies), kept
beside the service rather than on it: the service object is shared by every feature.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from server.core.service import Service

T = TypeVar("T")


class PerService(Generic[T]):
    """``make(svc)``, made on first use for each service and gone with it; thread-safe."""

    def __init__(self, make: Callable[[Service], T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[Service, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, svc: Service) -> T:
        made = self._made.get(svc)
        if made is None:
            with self._lock:
                made = self._made.get(svc)
                if made is None:
                    made = self._made[svc] = self._make(svc)
        return made
