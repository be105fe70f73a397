"""The diagrams of docs/design.md are what docs/generate.py makes from template.yaml and the ASL
(``make docs``), and they hold together as Mermaid: every state and component is a node, every edge joins two
nodes, every id is one Mermaid reads as an id. (GitHub draws them; Mermaid itself is not run here: its parser
needs a DOM.)"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.paths import ROOT, load_script

generate = load_script(ROOT / "docs" / "generate.py", "covers_docs_generate_diagrams")
TEMPLATE = generate.load()
ASL = generate.load_asl()

SAFE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Mermaid's keywords, which must never be an id (whatever the generator's own list says).
KEYWORDS = {"end", "graph", "flowchart", "subgraph", "state", "note", "class", "click", "style", "direction"}


# --- reading the diagrams back -----------------------------------------------------------------------------


def committed(name: str) -> list[str]:
    """The Mermaid lines between ``<!-- diagram:name -->`` markers in docs/design.md."""
    page = generate.DESIGN.read_text(encoding="utf-8")
    begin, end = generate.diagram_markers(name)
    assert page.count(begin) == 1 and page.count(end) == 1, f"docs/design.md needs one {begin} ... {end}"
    block = page[page.index(begin) : page.index(end)]
    fenced = re.search(r"```mermaid\n(.*?)\n```", block, re.DOTALL)
    assert fenced, f"no ```mermaid block between the {name} markers"
    return fenced.group(1).splitlines()


@dataclass
class Diagram:
    kind: str
    nodes: dict[str, str] = field(default_factory=dict)  # id -> label text
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (source, target, label)
    notes: dict[str, list[str]] = field(default_factory=dict)


_STATE_ALIAS = re.compile(r'^state "([^"]+)" as (\S+)$')
_STATE_DESCRIPTION = re.compile(r"^(\S+) : ([^:]+)$")
_STATE_EDGE = re.compile(r"^(\S+) --> (\S+)(?: : ([^:]+))?$")
_NOTE = re.compile(r"^note (?:right|left) of (\S+)$")


def parse_state_diagram(lines: list[str]) -> Diagram:
    assert lines[0] == "stateDiagram-v2"
    diagram = Diagram("state")
    note: str | None = None
    for raw in lines[1:]:
        line = raw.strip()
        if note is not None:
            if line == "end note":
                note = None
            else:
                diagram.notes[note].append(line)
            continue
        if match := _NOTE.match(line):
            note = match.group(1)
            diagram.notes[note] = []
        elif match := _STATE_ALIAS.match(line):
            diagram.nodes[match.group(2)] = match.group(1)
        elif match := _STATE_EDGE.match(line):
            diagram.edges.append((match.group(1), match.group(2), match.group(3) or ""))
        elif match := _STATE_DESCRIPTION.match(line):
            diagram.nodes.setdefault(match.group(1), match.group(1))
        else:
            pytest.fail(f"a line the state diagram check cannot read: {raw!r}")
    assert note is None, "a note is not closed"
    return diagram


# id, then one of the shapes the generator uses, around a quoted label
_FLOW_NODE = re.compile(
    r'^([^\s\[\](){}>|"-]+)(\["|\(\["|\[\("|\{\{"|\[\["|>"|\[/"|\[\\"|\(\(")([^"]*)("\]|"\]\)|"\)\]|"\}\}|"\]\]|"/\]|"\)\))$'
)
_FLOW_EDGE = re.compile(r'^(\S+) (-->|-\.->)(?:\|"([^"]*)"\|)? (\S+)$')
_CLOSING = {'["': '"]', '(["': '"])', '[("': '")]', '{{"': '"}}', '[["': '"]]', '>"': '"]', '[/"': '"/]'}
_CLOSING |= {'[\\"': '"/]', '(("': '"))'}


def parse_flowchart(lines: list[str]) -> Diagram:
    assert lines[0] == "flowchart TB"
    diagram = Diagram("flowchart")
    for raw in lines[1:]:
        line = raw.strip()
        if match := _FLOW_EDGE.match(line):
            diagram.edges.append((match.group(1), match.group(4), match.group(3) or ""))
        elif match := _FLOW_NODE.match(line):
            ident, opening, label, closing = match.groups()
            assert _CLOSING[opening] == closing, (
                f"a shape opened with {opening} closes with {closing}: {raw!r}"
            )
            assert ident not in diagram.nodes, f"{ident} declared twice"
            diagram.nodes[ident] = label
        else:
            pytest.fail(f"a line the flowchart check cannot read: {raw!r}")
    return diagram


def check_holds_together(diagram: Diagram) -> None:
    """Every id is Mermaid-safe, every edge joins declared nodes, every note is beside a node."""
    for ident in diagram.nodes:
        assert SAFE_ID.match(ident) and ident.lower() not in KEYWORDS, f"not a Mermaid-safe id: {ident!r}"
    ends = set(diagram.nodes) | ({"[*]"} if diagram.kind == "state" else set())
    for source, target, label in diagram.edges:
        assert source in ends and target in ends, f"edge {source} -> {target} joins an undeclared node"
        assert not set(label) & set('";#<>`'), f"a label Mermaid would misread: {label!r}"
    assert set(diagram.notes) <= set(diagram.nodes)


WORKFLOW = parse_state_diagram(committed("workflow"))
ARCHITECTURE = parse_flowchart(committed("architecture"))


# --- generated, not written ---------------------------------------------------------------------------------


def test_the_diagrams_are_what_the_generator_makes_from_the_template_and_the_asl() -> None:
    page = generate.DESIGN.read_text(encoding="utf-8")
    assert generate.render_design(page, TEMPLATE, ASL) == page, "docs/design.md is stale: run `make docs`"
    assert generate.main(["--check"]) == 0


def test_a_changed_state_machine_or_template_makes_the_diagrams_stale() -> None:
    page = generate.DESIGN.read_text(encoding="utf-8")
    asl = copy.deepcopy(ASL)
    asl["States"]["FinalizeCover"]["Catch"][0]["ErrorEquals"] = ["AwsTransientError"]
    assert generate.render_design(page, TEMPLATE, asl) != page
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["AuditQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    rendered = generate.render_design(page, template, ASL)
    assert 'AuditQueue(["AuditQueue<br/>SQS queue"])' in rendered


def test_the_generator_replaces_only_between_its_markers() -> None:
    begin, end = generate.diagram_markers("workflow")
    other_begin, other_end = generate.diagram_markers("architecture")
    page = f"intro\n{other_begin}\nold\n{other_end}\nmiddle\n{begin}\nold\n{end}\noutro\n"
    rendered = generate.render_design(page, TEMPLATE, ASL)
    assert rendered.startswith(f"intro\n{other_begin}") and rendered.endswith(f"{end}\noutro\n")
    assert "\nmiddle\n" in rendered and "old" not in rendered
    with pytest.raises(ValueError, match="markers"):
        generate.render_design(f"intro\n{begin}\n{end}\n", TEMPLATE, ASL)


# --- the workflow -------------------------------------------------------------------------------------------


def _state_ids() -> dict[str, str]:
    """ASL state name -> its id in the diagram."""
    by_label = {label: ident for ident, label in WORKFLOW.nodes.items()}
    return {name: by_label.get(name, name) for name in ASL["States"]}


def test_the_workflow_diagram_holds_together_and_has_every_state() -> None:
    check_holds_together(WORKFLOW)
    ids = _state_ids()
    assert set(ids.values()) == set(WORKFLOW.nodes), "a state missing, or a node that is no state"
    assert ("[*]", ids[ASL["StartAt"]], "") in WORKFLOW.edges


def test_each_transition_of_the_asl_is_an_edge_catches_named_by_their_errors() -> None:
    ids = _state_ids()
    edges = {(s, t): label for s, t, label in WORKFLOW.edges}
    for name, state in ASL["States"].items():
        for target in [
            state.get("Next"),
            state.get("Default"),
            *(r["Next"] for r in state.get("Choices", [])),
        ]:
            if target:
                assert (ids[name], ids[target]) in edges, f"{name} -> {target} is not drawn"
        for catch in state.get("Catch", []):
            label = edges.get((ids[name], ids[catch["Next"]]), "")
            assert "Catch" in label and all(error in label for error in catch["ErrorEquals"]), (name, label)
        if state.get("End") or state["Type"] in {"Succeed", "Fail"}:
            assert (ids[name], "[*]") in edges, f"{name} ends the execution: no edge to [*]"


def test_retry_is_a_note_per_task_and_the_poll_loop_an_edge_back() -> None:
    ids = _state_ids()
    for name, state in ASL["States"].items():
        retriers = state.get("Retry", [])
        if not retriers:
            assert ids[name] not in WORKFLOW.notes
            continue
        note = " ".join(WORKFLOW.notes[ids[name]])
        for retrier in retriers:
            for error in retrier["ErrorEquals"]:
                prefix = error.split(".")[0]
                assert error in note or f"{prefix}.*" in note, f"{name}: {error} is not in its Retry note"
        loops = [r for r in retriers if r["MaxAttempts"] >= generate.LOOP_ATTEMPTS]
        back = [label for s, t, label in WORKFLOW.edges if s == t == ids[name]]
        assert bool(back) == bool(loops)
    check = " ".join(WORKFLOW.notes[ids["CheckCoverStatus"]])
    assert "VendorAuthError, VendorCreditsExhaustedError - up to 10 retries, 60 s then x2" in check
    assert "PollIn120sError 120 s" in check
    assert [label for s, t, label in WORKFLOW.edges if s == t] == ["Retry every 2 to 120 s, no limit"]


def test_choices_unsafe_names_and_keywords_are_drawn_safely() -> None:
    asl: dict[str, Any] = {
        "StartAt": "is it ready?",
        "States": {
            "is it ready?": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.status", "StringEquals": "READY", "Next": "end"},
                    {"Not": {"Variable": "$.n", "NumericLessThan": 3}, "Next": "is it_ready_"},
                ],
                "Default": "end",
            },
            "is it_ready_": {"Type": "Pass", "Next": "end"},
            "end": {"Type": "Succeed"},
        },
    }
    diagram = parse_state_diagram(generate.workflow_diagram(asl))
    check_holds_together(diagram)
    assert len(diagram.nodes) == 3 and set(diagram.nodes.values()) == set(asl["States"])
    assert all(ident != "end" and SAFE_ID.match(ident) for ident in diagram.nodes)
    labels = {label for _, _, label in diagram.edges}
    assert "$.status StringEquals READY or Default" in labels
    assert "not ($.n NumericLessThan 3)" in labels


# --- the architecture ---------------------------------------------------------------------------------------


def test_the_architecture_diagram_holds_together_and_draws_each_component() -> None:
    check_holds_together(ARCHITECTURE)
    drawn = {k for k, v in TEMPLATE["Resources"].items() if v["Type"] in generate.COMPONENTS}
    assert drawn <= set(ARCHITECTURE.nodes)
    kinds = {v["Type"] for k, v in TEMPLATE["Resources"].items() if k in drawn}
    assert {
        "AWS::Serverless::Function",
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::Serverless::StateMachine",
        "AWS::Events::EventBus",
        "AWS::Events::Rule",
        "AWS::Serverless::HttpApi",
        "AWS::S3::Bucket",
    } <= kinds
    assert "only if ArchiveImages = true" in ARCHITECTURE.nodes["ArchiveBucket"]
    assert "only if UpstreamEventBusName set" in ARCHITECTURE.nodes["UpstreamMusicCompletedRule"]
    assert not {"StartCoverFunctionRole", "CoversDashboard", "AlarmTopic"} & set(ARCHITECTURE.nodes)


def test_the_architecture_edges_follow_event_sources_substitutions_and_policies() -> None:
    edges = {(s, t): label for s, t, label in ARCHITECTURE.edges}
    assert edges[("CoverRequestsQueue", "StartCoverFunction")] == "batches"
    assert edges[("CoversHttpApi", "CoverStatusApiFunction")] == "GET /covers/{musicTaskId} (AWS_IAM)"
    assert edges[("CoverWorkflow", "FinalizeCoverFunction")] == "FinalizeCover, FinalizeWithoutArchive"
    # the start function's role is a separate resource: its statements count
    assert edges[("StartCoverFunction", "CoverWorkflow")] == "StartExecution"
    assert edges[("StartCoverFunction", "CoversTable")] == "GetItem, PutItem, UpdateItem"
    # ${CoversTable.Arn}/index/byOpen in a Fn::Sub, and a statement under Fn::If
    assert edges[("ReconcileFunction", "CoversTable")].startswith("Query")
    assert edges[("FinalizeCoverFunction", "ArchiveBucket")] == "PutObject"
    assert edges[("CoverRequestsQueue", "CoverRequestsDeadLetterQueue")].startswith("dead letters")
    assert ("CheckCoverStatusFunction", "param_VendorBaseUrl") in edges
    assert any(s.startswith("schedule_") and t == "ReconcileFunction" for s, t in edges)
    # what the event source does itself is not drawn again; the check function touches no table
    assert ("StartCoverFunction", "CoverRequestsQueue") in edges
    assert "ReceiveMessage" not in edges[("StartCoverFunction", "CoverRequestsQueue")]
    assert not any(s == "CheckCoverStatusFunction" and "Table" in t for s, t in edges)


def test_an_access_granted_in_the_template_becomes_an_edge() -> None:
    template = copy.deepcopy(TEMPLATE)
    statements = template["Resources"]["CheckCoverStatusFunction"]["Properties"]["Policies"][0]["Statement"]
    statements.append(
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["CoversTable", "Arn"]}}
    )
    diagram = parse_flowchart(generate.architecture_diagram(template, ASL))
    assert ("CheckCoverStatusFunction", "CoversTable", "GetItem") in diagram.edges
