"""``covers ARGV`` run in the test's own process, as a user runs it in a shell."""

from __future__ import annotations

import pytest

from covers_local import cli


def covers(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``covers ARGV``: (exit code, stdout, stderr); argparse's own exits (bad input, ``--help``) included."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
