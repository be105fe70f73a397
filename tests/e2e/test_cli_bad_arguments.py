"""Bad input to any `covers` command: exit code 2 and exactly one line on stderr naming the argument and
the fix, before anything starts (docs/getting-started.md, "Exit codes and help"). Operational failures
stay 1."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from covers_local import cli, cli_runs
from covers_local.cli_console import HelpFormatter, help_walk
from covers_local.emulator import VendorEmulator
from tests.support.cli import covers as run
from tests.support.paths import ROOT


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "list.json").write_text("[1, 2]\n")
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "env.json").write_text("{}\n")
    return {name: str(tmp_path / f"{name}.json") for name in ("list", "empty", "env")}


NO_REGION = ["AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"]

CASES = [
    # (argv, what the line must name, the start of what it says)
    (["status", "bad id with space"], "MUSIC_TASK_ID", "invalid music task id 'bad id with space'"),
    (["status", "x1"], "--region", "no AWS region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION"),
    (["submit", "--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q", "a b"], "MUSIC_TASK_ID", "invalid"),
    (["run", "--udio-url", "ftp://x", "a1"], "--udio-url", "must be an http(s) URL"),
    (["run", "--udio-url", "http://127.0.0.1:9/api", "a1"], "--api-key", "required with --udio-url"),
    (["run", "bad id with space"], "MUSIC_TASK_ID", "invalid music task id"),
    (["run", "--max-wait", "soon", "a1"], "--max-wait", "not a whole number"),
    (["emulator", "--port", "99999"], "--port", "must be a TCP port"),
    (["emulator", "--fault-rate", "2"], "--fault-rate", "must be between 0 and 1"),
    (["emulator", "--fault-kinds", "nope"], "--fault-kinds", "unknown nope"),
    (["emulator", "--ready-min", "5", "--ready-max", "1"], "--ready-min", "5.0 is more than --ready-max"),
    (["local-stack", "--api-port", "70000"], "--api-port", "must be a TCP port"),
    (["webhook-event", "--body-file", "/nonexistent", "--secret", "s"], "--body-file", "cannot read"),
    (
        ["invoke", "StartCoverFunction", "-e", "{list}", "--env-vars", "{env}"],
        "--event",
        "{list} holds an array",
    ),
    (["invoke", "StartCoverFunction", "-e", "{empty}", "--env-vars", "{env}"], "--event", "{empty} is empty"),
    (["invoke", "StartCoverFunction", "-e", "/nonexistent", "--env-vars", "{env}"], "--event", "cannot read"),
    (["list", "--status", "DONE"], "--status", "unknown status 'DONE'"),
    (["redrive", "--max", "0"], "--max", "must be at least 1"),
    ([], "COMMAND", "the following arguments are required"),
    # a mistyped option: refused by the subcommand, with the option it resembles
    (
        ["run", "--poll-intervall", "2", "gen1"],
        "--poll-intervall",
        "unrecognized arguments: --poll-intervall; did you mean --poll-interval?",
    ),
    (["status", "--stak", "covers", "x1"], "--stak", "did you mean --stack?"),
    (["list", "--stack", "covers", "--zzz"], "--zzz", "unrecognized arguments: --zzz"),
    (["webhook-event", "--secret", "s", "--curl", "ftp://x"], "--curl", "must be an http(s) URL"),
    (["webhook-event", "--secret", "s", "--curl", "127.0.0.1:3001"], "--curl", "must be an http(s) URL"),
    (["budget", "--stack", "covers", "--tenant", ""], "--tenant", "empty"),
    (["budget", "--stack", "covers", "--tenant", " ", "--json"], "--tenant", "empty"),
    (
        ["backfill", "--stack", "covers", "/nonexistent.csv"],
        "FILE",
        "cannot read the catalogue /nonexistent.csv",
    ),
    (["backfill", "--stack", "covers", "--rate", "0", "{env}"], "--rate", "a rate is a number"),
    (["backfill", "--stack", "covers", "--max-credits", "0", "{env}"], "--max-credits", "1 or more"),
    (["report", "--stack", "covers", "--since", "yesterday"], "--since", "not a span (7d, 24h, 30m)"),
    (["report", "--stack", "covers", "--since", "2999-01-01"], "--since", "is in the future"),
    (["report", "--stack", "covers", "--by", "day"], "--by", "invalid choice: 'day'"),
    (["report", "--stack", "covers", "--json", "--csv"], "--csv", "not allowed with argument --json"),
    (["report", "--table", "t"], "--region", "no AWS region"),
]


@pytest.mark.parametrize(("argv", "flag", "says"), CASES, ids=[" ".join(c[0]) or "nothing" for c in CASES])
def test_a_bad_argument_exits_2_with_one_line_naming_it(
    argv: list[str],
    flag: str,
    says: str,
    files: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in NO_REGION:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))  # no region from a profile either
    monkeypatch.delenv("COVERS_API_KEY", raising=False)
    argv = [a.format(**files) for a in argv]
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, ""), err
    (line,) = err.splitlines()  # exactly one line: no usage block, no traceback
    command = f"covers {argv[0]}" if argv else "covers"
    assert line.startswith(f"{command}: error: ")
    assert flag in line and says.format(**files) in line
    assert line.endswith(f"(see {command} --help)")
    assert "internal error" not in line


def test_an_operational_failure_still_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["run", "--udio-url", "http://127.0.0.1:9/api", "--api-key", "k", "a1"], capsys)
    # named like the argument errors: the command that failed
    assert code == 1 and err.startswith("covers run: vendor server unreachable at 127.0.0.1:9")


def test_no_aws_credentials_is_bad_input_with_the_fix_on_the_same_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As a newcomer meets it against the local stack: a region and an endpoint, no credentials at all."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # (no instance metadata lookup)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: no credentials to sign
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    code, out, err = run(["status", "--stack", "covers-local", "my-track-1"], capsys)
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(
        "covers status: error: cannot read stack covers-local: Unable to locate credentials"
    )
    assert "AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x" in line
    assert line.endswith("(see covers status --help)")


def test_aws_region_alone_is_a_region(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 reads AWS_DEFAULT_REGION only; the message offers AWS_REGION too, so it must work."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    seen = {}

    def resolve(args: argparse.Namespace) -> None:
        seen["region"] = args.region
        raise SystemExit(0)

    monkeypatch.setattr("covers_ops.deployed.resolve", resolve)
    assert run(["status", "x1"], capsys)[0] == 0
    assert seen == {"region": "eu-west-1"}


# --- demo and run: the same flags refused the same way, before any credit is spent --------------------


@pytest.mark.slow
def test_demo_and_run_refuse_max_wait_0_the_same_way_before_spending(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COVERS_PROJECT_ROOT", str(ROOT))
    made: list[VendorEmulator] = []

    class Counted(VendorEmulator):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(cli_runs, "VendorEmulator", Counted)
    lines = {}
    for command in ("demo", "run"):
        code, out, err = run([command, "--max-wait", "0", *(["a1"] if command == "run" else [])], capsys)
        assert (code, out) == (2, ""), err
        (lines[command],) = err.splitlines()  # refused before the demo's introduction, or anything else
    assert lines["demo"].replace("covers demo", "covers run") == lines["run"]
    assert (
        lines["run"] == "covers run: error: argument --max-wait: must be >= 1, got 0 (see covers run --help)"
    )
    assert len(made) == 2
    for emulator in made:
        assert sum(emulator.stats.credits_charged.values()) == 0
        assert sum(emulator.stats.generate_calls.values()) == 0


# --- help everywhere ------------------------------------------------------------------------------------


def test_every_command_and_option_has_help_a_description_and_examples() -> None:
    parser = cli._parser()
    walked = list(help_walk(parser))
    assert {prog.split()[-1] for prog, _ in walked[1:]} >= {
        "demo", "run", "emulator", "webhook-event", "local-stack", "invoke",
        "submit", "status", "redrive", "list", "resume",
    }  # fmt: skip
    for prog, sub in walked[1:]:
        assert sub.description and len(sub.description) > 40, prog
        assert (sub.epilog or "").startswith("examples:\n  covers"), prog
        assert sub.formatter_class is HelpFormatter, prog
        formatter = HelpFormatter(prog)
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{prog} {action.option_strings or action.dest}: no help"
            if action.default not in (None, False):
                shown = formatter._get_help_string(action)
                assert "(default" in shown, f"{prog} {action.option_strings}: default not shown"
    demo_help = next(sub for prog, sub in walked if prog == "covers demo").format_help()
    assert "(default: 8)" in demo_help
    assert re.search(r"examples:\n  covers demo\n", demo_help)
