"""``--config FILE``, ``--data DIR``, ``--db URL``, ``--kek-file FILE``: commands that work
on the service's storage directly.

Used by the bootstrap and key-holding commands (``admin token create``, ``pool verify``,
``pool rotate-key``, ``audit verify``, ``status``, ``serve``).  Each setting is taken from
the command line, else its environment variable (``SIMATTEST_DATA``, ``SIMATTEST_DB``,
``SIMATTEST_KEK_FILE``), else the configuration file (``server.core.configfile``), else
its default.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from attest.errors import InputError
from server.core.datadir import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from server.core.config import ServiceConfig
    from server.core.configfile import ConfigFile
    from server.core.service import Service


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help="configuration file (TOML); env SIMATTEST_CONFIG, default "
             "/etc/simattest/simattest.toml, then ./simattest.toml if present")


def add_store_args(parser: argparse.ArgumentParser) -> None:
    add_config_arg(parser)
    parser.add_argument(
        "--data", type=Path, default=None, metavar="DIR",
        help="data directory with the keys (and the SQLite database); env SIMATTEST_DATA, "
             "config data_dir, default ./simattest-data")
    parser.add_argument(
        "--db", default=None, metavar="URL",
        help="database URL, e.g. postgresql+psycopg://user@host/db; env SIMATTEST_DB, "
             "config database.url, default SQLite in the data directory")
    parser.add_argument(
        "--kek-file", type=Path, default=None, metavar="FILE",
        help="key-encryption key (64 hex digits) kept outside the data directory; env "
             "SIMATTEST_KEK_FILE, config kek_file (SIMATTEST_KEK, the key itself in hex, "
             "wins over all)")


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


def load_settings(args: argparse.Namespace) -> ConfigFile:
    """Read the configuration file and settle ``args.data``/``db``/``kek_file`` (flag >
    environment > file > default); once per command, before anything is opened."""
    from server.core import configfile

    if getattr(args, "config_file", None) is not None:
        return args.config_file
    args.config_path = configfile.locate(args.config)
    config = configfile.load(args.config_path)
    args.data = Path(_first(str(args.data) if args.data else None,
                            os.environ.get("SIMATTEST_DATA"), config.data_dir)
                     or DEFAULT_DATA_DIR)
    db = _first(args.db, os.environ.get("SIMATTEST_DB"), config.database.url)
    for value, where in ((args.db, "--db"), (os.environ.get("SIMATTEST_DB"), "SIMATTEST_DB")):
        if value and value == db:
            configfile.check_url(value, where)
    # The file's password goes only with the file's URL.
    args.db = configfile.database_url(config, args.config_path, db) \
        if db == config.database.url and not args.db else db
    kek_file = _first(str(args.kek_file) if args.kek_file else None,
                      os.environ.get("SIMATTEST_KEK_FILE"), config.kek_file)
    args.kek_file = Path(kek_file) if kek_file else None
    args.config_file = config
    return config


# The service stack (SQLAlchemy, Alembic, Flask) is imported only when a command uses it,
# so that card commands such as `simattest read` start quickly.
def service_config(args: argparse.Namespace) -> ServiceConfig:
    from server.core.config import IdmsConfig, ServiceConfig, StartupError

    config = load_settings(args)
    file_settings = {name: value for name, value in config.service.model_dump().items()
                     if value is not None}
    idms_settings = {name: value for name, value in config.idms.model_dump().items()
                     if value is not None}
    try:
        idms = IdmsConfig(**idms_settings)
    except StartupError as exc:  # the message names the key (idms.…)
        raise InputError(f"configuration file {args.config_path}: {exc}") from None
    try:
        return ServiceConfig(kek_file=args.kek_file, idms=idms, **file_settings)
    except StartupError as exc:  # only the file's settings can be out of range here
        raise InputError(f"configuration file {args.config_path}: service.{exc}") from None


def open_service(args: argparse.Namespace, config: ServiceConfig | None = None, *,
                 create: bool) -> Service:
    """The service on ``--data``/``--db``.  ``create``: only the bootstrap commands
    (``serve``, ``admin token create``) may make a new data directory; for the others a
    missing one is a mistyped ``--data``, refused rather than filled with new keys."""
    from server.core.service import Service

    if config is None:
        config = service_config(args)
    return Service.open(args.data, args.db, config, create=create)
