"""Stopping the long-running simulator commands (``sim modem``, ``sim vpcd``) cleanly."""

from __future__ import annotations

import signal


def stop_on_sigint_or_sigterm() -> None:
    """Make SIGINT and SIGTERM raise :class:`KeyboardInterrupt` in the main thread.

    The commands' serve loops turn that into a clean stop (link removed, card taken out).
    SIGINT is set even though Python normally handles it: a shell without job control
    starts a background job (``simattest sim modem … &`` in a script) with SIGINT
    ignored, Python keeps an ignored signal ignored, and Ctrl-C or ``kill -INT`` would
    then do nothing.  These commands run until told to stop, so they take it back.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
