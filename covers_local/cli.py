"""``covers``: run the pipeline locally, serve the vendor emulator, operate a deployed stack.

Human output goes to stderr; ``--json`` output (and nothing else) to stdout. ``covers list`` prints its
result (one line per cover) on stdout, its progress on stderr. Exit codes: 0 done; 1 the command failed
(a server unreachable, an AWS error, an internal error), with a one-line reason; 2 bad arguments, with one
line naming the argument. `covers COMMAND --help` describes each command, with examples."""

# The one ``covers`` command: the local commands (covers_local/cli_runs.py, cli_serve.py) and the operator's
# commands on a deployed stack (covers_ops/cli.py), each module registering its own subcommands.

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from covers_local import cli_runs, cli_serve
from covers_local.cli_console import Parser, tree_formatter
from covers_ops import cli as ops_cli
from covers_ops.deployed import CommandError, UsageError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("covers: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:  # bad input found once the arguments are parsed: as argparse's own errors
        prog = f"covers {args.command}"
        print(f"{prog}: error: {exc} (see {prog} --help)", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"covers: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("COVERS_DEBUG"):
            raise
        print(
            f"covers: internal error: {type(exc).__name__}: {exc} (COVERS_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="covers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_runs.add_commands(sub)  # demo, run
    cli_serve.add_commands(sub)  # emulator, webhook-event, local-stack, invoke
    ops_cli.add_commands(sub)  # submit, status, redrive, list, resume
    tree_formatter(parser)
    return parser


if __name__ == "__main__":
    sys.exit(main())
