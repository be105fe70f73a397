"""``covers``: run the pipeline locally, serve the vendor emulator, operate a deployed stack.

Human output goes to stderr; ``--json`` output (and nothing else) to stdout. ``covers list`` prints its
result (one line per cover) on stdout, its progress on stderr. Exit codes: 0 done; 1 the command failed
(a server unreachable, an AWS error, an internal error), with a one-line reason; 2 bad arguments, with one
line naming the argument. ``covers COMMAND --help`` describes each command, with examples."""

# The one ``covers`` command: the local commands (covers_local/cli_runs.py, cli_serve.py) and the operator's
# commands on a deployed stack (covers_ops/cli.py), each module registering its own subcommands.

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence

from botocore.exceptions import NoCredentialsError

from covers_local import cli_runs, cli_serve
from covers_local.cli_console import Parser, tree_formatter
from covers_ops import cli as ops_cli
from covers_ops.deployed import CommandError, UsageError

#: How to fix a missing AWS configuration (docs/getting-started.md, "A local stack": moto takes any).
NO_CREDENTIALS_FIX = (
    "set AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE); for the local "
    "stack any values do: AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = _parse(parser, argv)
    prog = f"covers {args.command}"
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # (a closed pipe shows here, not at the interpreter's exit)
        return code
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        print("covers: interrupted", file=sys.stderr)
        return 130
    except CommandError as exc:
        if isinstance(exc, UsageError) or _no_credentials(exc):
            # bad input found once the arguments are parsed (a missing configuration is one): as
            # argparse's own errors
            fix = f"; {NO_CREDENTIALS_FIX}" if _no_credentials(exc) else ""
            print(f"{prog}: error: {exc}{fix} (see {prog} --help)", file=sys.stderr)
            return 2
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except NoCredentialsError as exc:
        print(f"{prog}: error: {exc}; {NO_CREDENTIALS_FIX} (see {prog} --help)", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("COVERS_DEBUG"):
            raise
        print(
            f"covers: internal error: {type(exc).__name__}: {exc} (COVERS_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an unknown one is refused by the subcommand's parser (its usage, its help), with
    the option it most resembles."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        sub = _subparser(parser, args.command)
        options = [o for action in sub._actions for o in action.option_strings]
        guesses = {
            match
            for word in unknown
            if word.startswith("-")
            for match in difflib.get_close_matches(word.split("=", 1)[0], options, n=1)
        }
        hint = f"; did you mean {' or '.join(sorted(guesses))}?" if guesses else ""
        sub.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return args


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen: argparse.ArgumentParser = action.choices[command]
            return chosen
    return parser


def _no_credentials(exc: BaseException) -> bool:
    """Whether botocore found no credentials at the root of ``exc``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, NoCredentialsError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reader_gone() -> int:
    """stdout's reader stopped reading (``covers list | head -1``): stop quietly, exit 0. As the Python
    docs recommend (signal module, "Note on SIGPIPE"), stdout is pointed at devnull so the interpreter's
    last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a file descriptor (captured): nothing to flush
        pass
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="covers", description=_plain(__doc__ or ""))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_runs.add_commands(sub)  # demo, run
    cli_serve.add_commands(sub)  # emulator, webhook-event, local-stack, invoke
    ops_cli.add_commands(sub)  # submit, status, redrive, list, resume
    tree_formatter(parser)
    return parser


def _plain(text: str) -> str:
    """A docstring as ``--help`` shows it: without its reST literal markup."""
    return text.replace("``", "")


if __name__ == "__main__":
    sys.exit(main())
