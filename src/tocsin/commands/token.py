"""`tocsin token create --scope ingest|admin [--name N] [--database URL]`: mint an API token (shown once)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("token", help="manage API tokens")
    actions = parser.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token and print it (it is stored only as a hash)")
    create.add_argument("--scope", choices=("ingest", "admin"), required=True)
    create.add_argument("--name", default="")
    create.add_argument("--database", default=None, help="as for `tocsin server` (default: TOCSIN_HOME sqlite)")
    create.set_defaults(func=run_create)


def run_create(args: argparse.Namespace) -> int:
    from tocsin.clock import SystemClock
    from tocsin.server.settings import Settings
    from tocsin.store import Store
    from tocsin.store import tokens

    settings = Settings.from_env(database_url=args.database)
    store = Store.open(settings.database_url)
    try:
        with store.write() as conn:
            token = tokens.create(conn, args.scope, SystemClock().now(), name=args.name)
    finally:
        store.close()
    print(token)
    return 0
