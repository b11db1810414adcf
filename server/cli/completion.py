"""``simattest completion bash|zsh``: shell completion generated from the parser (shtab),
so it knows every command and option the installed version has.

Install for the current user with one command:

- bash: ``simattest completion bash --install`` (writes it where bash-completion loads
  user completions: ``${XDG_DATA_HOME:-~/.local/share}/bash-completion/completions``);
- zsh: ``simattest completion zsh --install`` (writes ``~/.zfunc/_simattest``; zsh reads
  it when ``~/.zfunc`` is in ``fpath`` before ``compinit`` in ``~/.zshrc``, which the
  command prints when it is not).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from attest.errors import InputError
from attest.textfile import os_reason

_ZSH_RC_LINE = "fpath=(~/.zfunc $fpath); autoload -Uz compinit && compinit"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "completion", help="print or install bash/zsh completion for simattest",
        description="Print the completion script for a shell, or install it for the current "
                    "user with --install (bash: bash-completion's user directory; zsh: "
                    "~/.zfunc/_simattest).")
    parser.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    parser.add_argument("--install", action="store_true",
                        help="write it where the shell finds it, instead of printing it")
    parser.set_defaults(func=_completion)


def install_path(shell: str) -> Path:
    """Where ``--install`` puts the script for ``shell``."""
    home = Path.home()
    if shell == "bash":
        data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
        return data / "bash-completion" / "completions" / "simattest"
    return home / ".zfunc" / "_simattest"


def _completion(args: argparse.Namespace) -> int:
    import shtab  # only here: no other command needs it

    from server.cli.main import build_parser  # the whole tree; main imports this module

    script = shtab.complete(build_parser(), shell=args.shell)
    if not args.install:
        sys.stdout.write(script)
        return 0
    path = install_path(args.shell)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script)
    except OSError as exc:
        raise InputError(f"{path}: cannot write the completion ({os_reason(exc)})") from None
    print(f"installed {args.shell} completion in {path}; it applies to new shells")
    if args.shell == "zsh":
        print(f"if ~/.zfunc is not in your fpath yet, add to ~/.zshrc: {_ZSH_RC_LINE}")
    return 0
