"""Least privilege as a comparison, with no AWS in it: the grants of a template's roles, resolved to ARN
patterns, against the calls the code made, as (IAM action, resource ARN) per principal (the function or
state machine that uses the role). ``tests/infra/test_iam.py`` records the calls once against the moto
stack and runs :func:`verdict` on the template and on widened copies of it (:func:`with_resource`).

Every grant must be the narrowest pattern that covers what the code touched: the exact ARN, or the
pattern the code is designed to use in its place (:data:`Designed`, e.g. the archive's key prefix). A
grant that covers more (a wildcard where an ARN would do, a key prefix dropped) fails, as does a grant no
call uses and a call no grant covers."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: (IAM action, resource ARN) of one call.
Call = tuple[str, str]
#: (pattern of a call's ARN, replacement): the pattern a grant uses for ARNs the code names in that form.
Designed = Sequence[tuple[str, str]]
#: A template fragment resolved (intrinsics -> values), e.g. ``tests.infra.test_template_ops.Resolved``.
Resolver = Callable[[Any], Any]


@dataclass(frozen=True, order=True)
class Site:
    """Where one resource of one Allow statement sits in a principal's role (indexes in the resolved
    ``Policies``, the statement list and the ``Resource`` list)."""

    principal: str
    policy: int
    statement: int
    resource: int


@dataclass(frozen=True)
class Grant:
    site: Site
    label: str  # "<principal> <Sid>" ("<principal> <PolicyName>#<n>" without a Sid)
    actions: tuple[str, ...]
    pattern: str


@dataclass(frozen=True)
class Problem:
    kind: str  # "missing" (a call no grant covers), "unused" (a grant no call uses), "not narrowest"
    text: str
    grant: Grant | None = None
    narrower: tuple[str, ...] = ()  # for "not narrowest": the patterns that would do


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def _names_role(node: Any, role: str) -> bool:
    if isinstance(node, dict):
        if node.get("Fn::GetAtt") in ([role, "Arn"], f"{role}.Arn"):
            return True
        return any(_names_role(v, role) for v in node.values())
    return isinstance(node, list) and any(_names_role(v, role) for v in node)


def principals(template: dict[str, Any]) -> dict[str, str]:
    """The role of each resource that acts with one (its logical id -> the role's logical id): whatever
    names an ``AWS::IAM::Role``'s ARN (a function's ``Role``, a state machine's ``RoleArn``)."""
    resources = template["Resources"]
    roles = [k for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"]
    return {
        user: role
        for role in roles
        for user, spec in resources.items()
        if user != role and _names_role(spec.get("Properties", {}), role)
    }


def role_policies(template: dict[str, Any], resolve: Resolver, role: str) -> list[dict[str, Any]]:
    """The inline policies of ``role`` (logical id), resolved."""
    return list(resolve(template["Resources"][role]["Properties"].get("Policies", [])))


def grants(
    template: dict[str, Any], resolve: Resolver, roles: Mapping[str, str] | None = None
) -> list[Grant]:
    """Every (statement, resource) of the inline policies of every role (``roles``: principal -> role,
    :func:`principals` by default), resolved; only plain Allow statements (no NotAction, NotResource or
    Condition) are expected."""
    found = []
    for principal, role in (roles or principals(template)).items():
        for p, policy in enumerate(role_policies(template, resolve, role)):
            for s, statement in enumerate(_statements(policy["PolicyDocument"])):
                assert statement["Effect"] == "Allow", statement
                assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
                label = f"{principal} {statement.get('Sid') or policy['PolicyName'] + f'#{s}'}"
                actions = tuple(_as_list(statement["Action"]))
                for r, pattern in enumerate(_as_list(statement["Resource"])):
                    found.append(Grant(Site(principal, p, s, r), label, actions, str(pattern)))
    return found


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(".".join(re.escape(q) for q in p.split("?")) for p in pattern.split("*")))


def matches(pattern: str, arn: str) -> bool:
    """IAM's match of a ``Resource`` pattern: ``*`` any characters (``/`` and ``:`` too), ``?`` one."""
    return _regex(pattern).fullmatch(arn) is not None


def narrowest(arn: str, designed: Designed) -> str:
    """The narrowest pattern a grant may use for ``arn``: the designed pattern for ARNs of its form, or
    the ARN itself."""
    for form, replacement in designed:
        match = re.fullmatch(form, arn)
        if match:
            return match.expand(replacement)
    return arn


def verdict(
    granted: Iterable[Grant],
    calls: Mapping[str, set[Call]],
    designed: Designed,
    exempt: Callable[[str, str], bool] = lambda action, pattern: False,
) -> list[Problem]:
    """What is wrong with ``granted`` for ``calls`` (principal -> calls): a call no grant covers, a grant
    (action, pattern) no call uses, or one that is not the narrowest pattern that covers the ARNs its
    calls touched. ``exempt(action, pattern)`` grants are not checked (AWS requires ``*`` for them)."""
    granted = list(granted)
    problems = []
    for principal in sorted({g.site.principal for g in granted} | set(calls)):
        mine = [g for g in granted if g.site.principal == principal]
        made = calls.get(principal, set())
        for action, arn in sorted(made):
            if not any(action in g.actions and matches(g.pattern, arn) for g in mine):
                text = f"{principal} calls {action} on {arn}, which its role does not grant"
                problems.append(Problem("missing", text))
        for grant in mine:
            for action in grant.actions:
                if exempt(action, grant.pattern):
                    continue
                touched = {arn for a, arn in made if a == action and matches(grant.pattern, arn)}
                where = f"{grant.label}: {action} on {grant.pattern}"
                if not touched:
                    problems.append(Problem("unused", f"{where} is granted but no call uses it", grant))
                    continue
                needed = tuple(sorted({narrowest(arn, designed) for arn in touched}))
                if needed != (grant.pattern,):
                    wider = all(matches(grant.pattern, n) for n in needed)
                    how = "is broader than" if wider else "is not"
                    text = f"{where} {how} what the code needs: {', '.join(needed)} would do"
                    problems.append(Problem("not narrowest", text, grant, needed))
    return problems


def widenings(pattern: str) -> list[str]:
    """Patterns strictly broader than ``pattern``: ``*``; the pattern with ``*`` appended, or its last
    ``:*`` or ``/*`` turned into ``*``; every prefix of it ending at a ``:``, ``/`` or ``-`` followed by
    ``*`` (a key prefix, a name, a resource type, a stack-name prefix dropped); its last ``-`` suffix as
    ``?``s (a secret's random suffix); its region or account replaced by ``*``."""
    found = {"*", pattern + "*" if not pattern.endswith("*") else pattern[:-2] + "*"}
    found |= {pattern[: i + 1] + "*" for i, c in enumerate(pattern) if c in ":/-"}
    head, dash, tail = pattern.rpartition("-")
    if dash and tail and "*" not in tail:
        found.add(f"{head}-{'?' * len(tail)}")
    fields = pattern.split(":", 5)
    if len(fields) == 6:
        for index in (3, 4):  # region, account
            if fields[index] not in ("", "*"):
                found.add(":".join([*fields[:index], "*", *fields[index + 1 :]]))
    return sorted(w for w in found if w != pattern and matches(w, pattern))


def with_resource(
    template: dict[str, Any], resolve: Resolver, role: str, site: Site, value: str | None
) -> dict[str, Any]:
    """A copy of ``template`` where ``role`` (``site.principal``'s) has its policies resolved and the
    resource at ``site`` replaced by ``value`` (removed if ``None``, and its statement with it if it was
    the last). The template itself is not changed."""
    policies = copy.deepcopy(role_policies(template, resolve, role))
    document = policies[site.policy]["PolicyDocument"]
    statements = _statements(document)
    statement = statements[site.statement]
    resources = _as_list(statement["Resource"])
    if value is None:
        del resources[site.resource]
    else:
        resources[site.resource] = value
    statement["Resource"] = resources
    document["Statement"] = [s for s in statements if s["Resource"]]
    spec = template["Resources"][role]
    mutated = {**spec, "Properties": {**spec["Properties"], "Policies": policies}}
    return {**template, "Resources": {**template["Resources"], role: mutated}}
