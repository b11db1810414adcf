"""``simattest config check``: read the configuration file as a storage command would,
and print the settings in effect (file, environment and defaults), secrets masked."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from server.cli.output import add_json_flag, print_fields, print_json
from server.cli.storeargs import add_config_arg, load_settings, service_config


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("config", help="the configuration file")
    sub = group.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    check = sub.add_parser(
        "check", help="check the configuration file and print the settings in effect",
        description="Exit 2 with one line naming the file and the key if the file is not "
                    "TOML, has an unknown key or a value of the wrong type, or its "
                    "password file is missing or readable by every user.")
    add_config_arg(check)
    add_json_flag(check)
    check.set_defaults(func=_check, data=None, db=None, kek_file=None)


def _check(args: argparse.Namespace) -> int:
    from server.core.configfile import mask_url

    server = load_settings(args).server
    config = service_config(args)
    settings: dict[str, Any] = {
        "config_file": None if args.config_path is None else str(args.config_path),
        "data_dir": str(args.data),
        "database": "sqlite (in the data directory)" if args.db is None else mask_url(args.db),
        **{f"server.{name}": value for name, value in server.model_dump().items()},
        "kek_file": None if args.kek_file is None else str(args.kek_file),
        **{f"service.{field.name}": getattr(config, field.name)
           for field in dataclasses.fields(config)
           # set by `serve` from its TLS and metrics options, shown under server.*
           if field.name not in ("kek_file", "trusted_proxies", "tls",
                                 "device_certificates", "metrics_listener", "idms")},
        **{f"idms.{field.name}": getattr(config.idms, field.name)
           for field in dataclasses.fields(config.idms)},
    }
    if args.json:
        print_json(settings)
    else:
        print_fields(((name, "-" if value is None else value)
                      for name, value in settings.items()), title="effective settings")
    return 0
