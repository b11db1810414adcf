"""The one small exception hierarchy every layer raises.

Each class carries the CLI exit code it maps to, so the CLI never guesses:
0 success, 1 the card said no, 2 usage or input error, 3 reader/transport error.
Messages are one line a person understands (what, where, which byte or field) and never
contain key material or secrets: no K, OPc, OP, PIN or ADM value.
"""


class SimattestError(Exception):
    """Base of every error simattest raises on purpose."""

    exit_code = 2


class InputError(SimattestError):
    """Bad input from the user, a file or the command line (exit 2)."""

    exit_code = 2


class FieldError(InputError):
    """Bad input in one field of a structured document: ``field`` is its dotted path."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CardError(SimattestError):
    """The card answered, and the answer was no or malformed (exit 1)."""

    exit_code = 1


class TransportError(SimattestError):
    """The reader, pcscd, the modem or the link failed (exit 3)."""

    exit_code = 3


class CardRemovedError(TransportError):
    """The card went away during a command."""
