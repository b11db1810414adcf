"""The data directory: where the embedded database and the service's keys live.

Layout (directory mode 0700, files 0600)::

    simattest.db            SQLite database (unless --db points elsewhere)
    kek.key                 key-encryption key, 64 hex digits (32 random bytes)
    ear-signing-key.pem     EC P-256 private key (PKCS#8 PEM) that signs EARs

Keys are created here only on first start; ``server.core.service.Service.open`` refuses
to create them again for a database that already has data encrypted or signed
under earlier ones.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from attest.errors import InputError
from attest.textfile import os_reason

DEFAULT_DATA_DIR = Path("simattest-data")
DB_FILE = "simattest.db"
KEK_FILE = "kek.key"
SIGNING_KEY_FILE = "ear-signing-key.pem"
_CREATED_BY = "`simattest serve` or `simattest admin token create --data DIR` creates one"


@dataclass(frozen=True)
class DataDir:
    path: Path

    @classmethod
    def ensure(cls, path: Path, sqlite: bool = True, *, create: bool = True) -> DataDir:
        """The data directory at ``path``; refuse a path that is not a directory.

        With ``create`` (the bootstrap commands), make the directory (0700) if missing,
        and the SQLite file if ``sqlite`` (the database is not elsewhere).  Without it,
        both must exist already and nothing is created: a mistyped ``--data`` must not
        become a new directory with new keys.
        """
        if path.exists() and not path.is_dir():
            raise InputError(f"data directory {path}: exists and is not a directory")
        db_file = path / DB_FILE
        if create:
            _create(path, db_file if sqlite else None)
        elif not path.is_dir():
            raise InputError(f"data directory {path} does not exist (mistyped --data?); "
                             f"{_CREATED_BY}")
        elif sqlite and not db_file.exists():
            raise InputError(f"data directory {path} holds no database {DB_FILE} (give "
                             f"--db URL if it is elsewhere); {_CREATED_BY}")
        if sqlite and not os.access(path, os.W_OK):
            # SQLite would say only "unable to open database file".
            raise InputError(
                f"data directory {path}: not writable ({_unwritable_reason(path)}); SQLite "
                "writes beside its database (the WAL journal) even to read it")
        return cls(path)

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{(self.path / DB_FILE).resolve()}"

    @property
    def kek_path(self) -> Path:
        return self.path / KEK_FILE

    @property
    def signing_key_path(self) -> Path:
        return self.path / SIGNING_KEY_FILE


def _create(path: Path, db_file: Path | None) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"data directory {path}: cannot create it ({os_reason(exc)})") from None
    if db_file is None or db_file.exists():
        return
    # Create the SQLite file ourselves so it is 0600 (SQLite would honour the umask); an
    # empty file is a valid empty database.  Another process may create it at the same
    # moment.
    try:
        os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise InputError(f"data directory {path}: cannot create {db_file.name} "
                         f"({os_reason(exc)})") from None


def _unwritable_reason(path: Path) -> str:
    return "read-only filesystem" if os.statvfs(path).f_flag & os.ST_RDONLY \
        else "permission denied"


def write_secret_file(path: Path, content: bytes) -> None:
    """Create ``path`` with mode 0600, whole or not at all; never overwrite an existing
    file (FileExistsError).

    Written to a private temporary name first and then hard-linked into place, so a
    process starting at the same moment never reads a half-written key.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)
    finally:
        os.unlink(tmp)


def new_kek() -> bytes:
    return secrets.token_bytes(32)


def encode_kek(kek: bytes) -> bytes:
    return kek.hex().encode("ascii") + b"\n"


def parse_kek(text: str, where: str) -> bytes:
    """A KEK given as 64 hex digits (file content or ``SIMATTEST_KEK``)."""
    cleaned = text.strip()
    try:
        kek = bytes.fromhex(cleaned)
    except ValueError:
        raise InputError(f"{where}: key-encryption key must be 64 hex digits") from None
    if len(kek) != 32:
        raise InputError(f"{where}: key-encryption key must be 32 bytes, got {len(kek)}")
    return kek


def read_kek_file(path: Path) -> bytes:
    """The KEK in ``path``, refused if other users than its owner may read or change it
    (anyone who reads it decrypts every card's K and OPc)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text("ascii")
    except FileNotFoundError:
        raise InputError(f"{path}: no such key-encryption key file (`simattest admin kek "
                         f"create --out {path}` makes one)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: cannot read key-encryption key ({exc.__class__.__name__})"
        ) from None
    if mode & 0o077:
        raise InputError(f"{path}: key-encryption key open to other users (mode {mode:04o}); "
                         f"chmod 0600 {path}")
    return parse_kek(text, str(path))


def create_kek_file(path: Path) -> None:
    """A new random KEK in a new file ``path`` (0600); an existing file is never replaced."""
    try:
        write_secret_file(path, encode_kek(new_kek()))
    except FileExistsError:
        raise InputError(f"{path}: exists; refusing to overwrite a key file (a lost "
                         "key-encryption key makes every card's keys unreadable)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot create it ({os_reason(exc)})") from None
