"""The documentation stays true to the code it describes.

* docs/configuration.md's parameter table is what docs/generate.py makes from template.yaml (``make docs``);
* every citation of a docs page in the code (``docs/<page>.md, "<Section>"`` in a comment, a docstring, a
  template description) names a page that exists and a heading it has;
* every link between README.md and the docs pages resolves, down to the heading it points at, and so does the
  section quoted after a link;
* README.md stays a front door (at most 300 lines) that links every docs page, and the ``make`` targets and
  ``covers`` commands the pages tell you to run exist."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from covers_local.cli import _parser
from tests.support.paths import ROOT, load_script

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
README = ROOT / "README.md"
#: The markdown a reader follows from the README.
READ = [README, *PAGES, ROOT / "events" / "README.md"]
#: Where code may cite a docs page: source, templates, state machine, configuration.
CODE_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".toml"}
SKIPPED_DIRS = {
    ".git",
    ".venv",
    ".aws-sam",
    ".tools",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "results",
}


generate = load_script(DOCS / "generate.py", "covers_docs_generate")


# --- headings and anchors, as GitHub makes them ----------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def headings(page: Path) -> list[str]:
    """The page's headings (outside fenced code blocks), as written."""
    found, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (match := _HEADING.match(line)):
            found.append(match.group(1))
    return found


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]{2,}|`", "", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in headings(page):
        base = anchor(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def test_anchors_are_made_as_github_makes_them() -> None:
    assert anchor("Security scan (checkov)") == "security-scan-checkov"
    assert anchor("NEEDS_ATTENTION") == "needs_attention"
    assert anchor("samconfig.toml overrides") == "samconfigtoml-overrides"
    assert anchor("`covers invoke`") == "covers-invoke"


# --- the generated parameter reference --------------------------------------------------------------------


def test_the_parameter_reference_is_what_the_generator_makes_from_the_template() -> None:
    page = generate.PAGE.read_text(encoding="utf-8")
    assert generate.render(page, generate.load()) == page, "docs/configuration.md is stale: run `make docs`"
    assert generate.main(["--check"]) == 0


def test_the_reference_has_one_row_per_parameter_with_its_default_and_variables() -> None:
    template = generate.load()
    page = generate.PAGE.read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| `")}
    assert {f"`{name}`" for name in template["Parameters"]} <= set(rows)
    poll = rows["`PollInvocationIntervalSeconds`"]
    assert "`5`" in poll and "`POLL_INVOCATION_INTERVAL_SECONDS`: StartCoverFunction" in poll
    # set through a condition: EXPRESS turns in-Lambda polling off
    assert "`POLL_INVOCATION_BUDGET_SECONDS`: CheckCoverStatusFunction" in rows["`WorkflowType`"]
    assert "ReservedConcurrentExecutions" in rows["`FinalizeReservedConcurrency`"]
    assert "`CLAIM_LEASE_SECONDS`" in rows and "120" in rows["`CLAIM_LEASE_SECONDS`"]


def test_a_changed_or_added_parameter_makes_the_reference_stale() -> None:
    template = generate.load()
    page = generate.PAGE.read_text(encoding="utf-8")
    changed = copy.deepcopy(template)
    changed["Parameters"]["PollMaxWaitSeconds"]["Default"] = 1200
    assert generate.render(page, changed) != page
    added: dict[str, Any] = copy.deepcopy(template)
    added["Parameters"]["NewKnob"] = {"Type": "Number", "Default": 7, "Description": "A new knob."}
    assert "| `NewKnob` | `7` |" in generate.render(page, added)


def test_the_generator_touches_nothing_outside_its_markers() -> None:
    page = "intro\n" + generate.BEGIN + "\nold\n" + generate.END + "\noutro\n"
    rendered = generate.render(page, generate.load())
    assert rendered.startswith("intro\n" + generate.BEGIN) and rendered.endswith(generate.END + "\noutro\n")
    with pytest.raises(ValueError, match="markers"):
        generate.render("no markers here", generate.load())


# --- citations of the docs in the code ---------------------------------------------------------------------

_CITATION = re.compile(r'docs/([a-z_-]+\.md)((?:,?\s+(?:and\s+)?"[^"]{1,80}")*)')
_QUOTED = re.compile(r'"([^"]+)"')
# A citation may run over a line break inside a comment or docstring: join such lines first.
_CONTINUATION = re.compile(r"\s*\n\s*(?:#:?\s*)?")


def code_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        if path.suffix not in CODE_SUFFIXES or not path.is_file():
            continue
        if SKIPPED_DIRS & set(path.relative_to(ROOT).parts) or path == Path(__file__):
            continue
        found.append(path)
    return found


def citations() -> list[tuple[Path, str, list[str]]]:
    """(file, page, [sections]) for every ``docs/<page>.md`` the code (or the changelog) names."""
    found = []
    for path in [*code_files(), ROOT / "CHANGELOG.md"]:
        text = path.read_text(encoding="utf-8", errors="replace").replace('\\"', '"')
        text = _CONTINUATION.sub(" ", text)
        for match in _CITATION.finditer(text):
            found.append((path, match.group(1), _QUOTED.findall(match.group(2))))
    return found


CITATIONS = citations()


def test_the_citation_scan_finds_the_citations_the_code_makes() -> None:
    cited = {(path.relative_to(ROOT).as_posix(), page, tuple(sections)) for path, page, sections in CITATIONS}
    # over a line break in a ``#:`` comment, and two sections in one citation
    assert (
        "layers/shared/covers_core/domain/schedule.py",
        "performance.md",
        ("Where the waiting happens",),
    ) in cited
    assert (
        "layers/shared/covers_core/domain/schedule.py",
        "design.md",
        ("The poll schedule", "The poll loop"),
    ) in cited
    assert any(path.name == "template.yaml" for path, _, _ in CITATIONS)
    assert any(path.name == "CHANGELOG.md" for path, _, _ in CITATIONS)
    assert len(CITATIONS) >= 30


@pytest.mark.parametrize(
    ("path", "page", "sections"),
    CITATIONS,
    ids=[f"{p.relative_to(ROOT)}->{page}" for p, page, _ in CITATIONS],
)
def test_each_cited_page_and_section_exists(path: Path, page: str, sections: list[str]) -> None:
    target = DOCS / page
    assert target.is_file(), f"{path.relative_to(ROOT)} cites docs/{page}, which does not exist"
    for section in sections:
        assert section in headings(target), (
            f"{path.relative_to(ROOT)} cites docs/{page}, {section!r}: no such heading"
        )


def test_no_code_cites_the_readme_for_what_moved_to_the_docs() -> None:
    stale = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in code_files()
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if re.search(r"\bREADME\b(?!\.md\b)|\bREADME\.md\b(?!\s*\))|DESIGN\.md", line)
        and "events/README.md" not in line
        and "examples/consumer/README.md" not in line
        and "readme =" not in line
        and "ReadmeUrl:" not in line  # template.yaml's SAR metadata: the file SAR shows, not a citation
        and '/ "README.md"' not in line  # a test reading the page itself (its sample output)
    ]
    assert not stale, f"cite the docs page and section instead: {stale}"


# --- links in the markdown ---------------------------------------------------------------------------------

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_LINK_THEN_SECTION = re.compile(r"\]\(([^)\s#]+\.md)\),\s+\"([^\"]+)\"(?:\s+and\s+\"([^\"]+)\")?")


def links() -> list[tuple[Path, str]]:
    return [(page, m.group(1)) for page in READ for m in _LINK.finditer(page.read_text(encoding="utf-8"))]


LINKS = [(page, target) for page, target in links() if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in LINKS])
def test_each_link_between_the_pages_resolves(page: Path, target: str) -> None:
    file, _, fragment = target.partition("#")
    resolved = (page.parent / file).resolve() if file else page
    assert resolved.exists(), f"{page.relative_to(ROOT)} links {target}: no such file"
    if fragment:
        assert resolved.suffix == ".md"
        assert fragment in anchors(resolved), f"{page.relative_to(ROOT)} links {target}: no such heading"


def test_each_section_quoted_after_a_link_exists() -> None:
    missing = []
    for page in READ:
        for match in _LINK_THEN_SECTION.finditer(page.read_text(encoding="utf-8")):
            target = (page.parent / match.group(1)).resolve()
            for quoted in filter(None, match.groups()[1:]):
                section = " ".join(quoted.split())  # a quote may wrap over lines
                if not target.is_file() or section not in headings(target):
                    missing.append(f"{page.relative_to(ROOT)}: {match.group(1)}, {section!r}")
    assert not missing


def test_the_readme_is_a_front_door_that_links_every_docs_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    linked = {target for _, target in links() if _ == README}
    assert {f"docs/{page.name}" for page in PAGES} <= linked
    assert "```mermaid" in text


# --- what the pages tell you to run ------------------------------------------------------------------------


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([a-z][a-z-]*):", text, re.MULTILINE)}


def _covers_commands() -> set[str]:
    parser = _parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return set(sub.choices or ())


def test_the_make_targets_and_covers_commands_the_pages_name_exist() -> None:
    targets, commands = _make_targets(), _covers_commands()
    unknown = []
    for page in READ:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"(?:`|\$ )make ([a-z][a-z-]*)", text):
            if match.group(1) not in targets:
                unknown.append(f"{page.relative_to(ROOT)}: make {match.group(1)}")
        for match in re.finditer(r"(?:`|\$ |\.venv/bin/)covers ([a-z][a-z-]*)", text):
            if match.group(1) not in commands:
                unknown.append(f"{page.relative_to(ROOT)}: covers {match.group(1)}")
    assert not unknown
    assert {"demo", "test", "docs"} <= targets
