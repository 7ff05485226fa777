"""The `tocsin` command. Each subcommand lives in its own module under tocsin.commands and registers
itself through `add_parser(subparsers)`; imports are lazy so `tocsin test` never loads the server stack."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module providing add_parser(subparsers); add new commands here
COMMANDS: dict[str, str] = {
    "server": "tocsin.commands.server",  # engine (server/store owner)
    "token": "tocsin.commands.token",  # engine (server/store owner)
    "test": "tocsin.commands.test",
    "sink": "tocsin.commands.sink",
    "preview": "tocsin.commands.preview",
    "drill": "tocsin.commands.drill",
    "provider": "tocsin.provider.install",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tocsin", description="Alerts and automations as code.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is None or only == name:
            importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    only = args_in[0] if args_in and args_in[0] in COMMANDS else None
    args = build_parser(only).parse_args(args_in)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
