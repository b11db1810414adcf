"""Reading a text file the user named, with failures said in words.

Shared by the card-file loader (``hw``) and the CLI: a missing file, a directory, a
permission problem or bytes that are not text become one ``InputError`` line naming
the file — "no such file", "not UTF-8 text (byte 12)" — never an exception class name.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from attest.errors import InputError


def os_reason(exc: OSError) -> str:
    """The operating system's words for ``exc`` ("Permission denied"), or its class name
    when it carries none."""
    return exc.strerror or exc.__class__.__name__


def read_text(path: Path, encoding: str = "utf-8") -> str:
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({os_reason(exc)})") from None
    except UnicodeDecodeError as exc:
        codec = codecs.lookup(encoding).name
        label = "UTF-8" if codec.startswith("utf-8") else codec.upper()
        raise InputError(f"{path}: not {label} text (byte {exc.start})") from None
