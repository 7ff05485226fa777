"""`tocsin test FILE|DIR...`: run alert-rule scenario files through the real evaluator, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from tocsin.errors import ValidationFailed
from tocsin.scenarios import describe_expected, load_file, run

SUFFIXES = (".yaml", ".yml", ".json")


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("test", help="run alert-rule test scenarios (YAML/JSON) offline")
    parser.add_argument("paths", nargs="+", help="scenario files, or directories searched for *.yaml/*.yml/*.json")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list passing scenarios")
    parser.set_defaults(func=lambda args: run_paths(args.paths, verbose=args.verbose))


def expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        else:
            files.append(path)
    return files


def run_paths(paths: list[str], *, verbose: bool = False, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    passed = failed = 0
    files = expand(paths)
    if not files:
        print(f"error: no scenario files found in {' '.join(paths)}", file=out)
        return 2
    for path in files:
        try:
            scenarios = load_file(path)
        except ValidationFailed as exc:
            failed += 1
            for field, reason in exc.problems:
                print(f"ERROR {path}: {field}: {reason}" if field else f"ERROR {path}: {reason}", file=out)
            continue
        for scenario in scenarios:
            result = run(scenario)
            if result.passed:
                passed += 1
                if verbose:
                    print(f"PASS {path}::{scenario.name}", file=out)
                continue
            failed += 1
            print(f"FAIL {path}::{scenario.name}", file=out)
            print("  expected firings:", file=out)
            for exp in result.expected:
                print(f"    {describe_expected(exp)}", file=out)
            if not result.expected:
                print("    (none)", file=out)
            print("  actual firings:", file=out)
            for act in result.actual:
                print(f"    {act.describe()}", file=out)
            if not result.actual:
                print("    (none)", file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tocsin")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["test", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
