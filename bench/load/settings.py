"""Each simulated function's settings as a deployment with the run's parameters has them: the function's
environment variables in template.yaml (Globals, then its own) resolved for those parameters, and read by
the REAL ``covers_core.settings`` classes, as the deployed function reads them. So a template condition
(``WorkflowType=EXPRESS`` sets the check's ``POLL_INVOCATION_BUDGET_SECONDS`` to 0) applies in the
simulation exactly as it does in AWS, and parameters CloudFormation would refuse (AllowedValues,
MinValue/MaxValue, the template's ``Rules``) are refused here too.

Resource references (table names, ARNs, URLs) resolve to placeholders: the simulation's fakes stand in for
the resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from covers_local.template import constant


class RefusedParameters(ValueError):
    """CloudFormation would refuse to deploy the template with these parameters."""


class Resolver:
    """Intrinsic functions of template.yaml, for one set of parameter values."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
        self.template = template
        self.parameters = dict(parameters)

    def value(self, node: Any) -> Any:
        if not isinstance(node, Mapping):
            return node
        if len(node) != 1:
            return {k: self.value(v) for k, v in node.items()}
        ((name, arg),) = node.items()
        if name == "Ref":
            return self._ref(str(arg))
        if name == "Fn::If":
            condition, when_true, when_false = arg
            return self.value(when_true if self.condition(condition) else when_false)
        if name == "Fn::FindInMap":
            return constant(dict(self.template), node)
        if name == "Fn::GetAtt":
            target = arg if isinstance(arg, str) else ".".join(arg)
            return f"arn:sim:{target}"
        if name == "Fn::Sub":
            return f"sim:{arg if isinstance(arg, str) else arg[0]}"
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::Contains", "Condition"):
            return self.truth(node)
        return {k: self.value(v) for k, v in node.items()}

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name.startswith("AWS::"):
            return {"AWS::StackName": "sim", "AWS::Region": "us-east-1", "AWS::Partition": "aws"}.get(
                name, f"sim:{name}"
            )
        if name.split(".", maxsplit=1)[0] in self.template.get("Resources", {}):
            return f"sim-{name}"
        raise KeyError(f"template: Ref to unknown {name}")

    def condition(self, name: str) -> bool:
        return self.truth(self.template["Conditions"][name])

    def truth(self, node: Any) -> bool:
        ((name, arg),) = node.items()
        if name == "Condition":
            return self.condition(str(arg))
        if name == "Fn::Equals":
            left, right = (str(self.value(v)) for v in arg)
            return left == right
        if name == "Fn::Not":
            return not self.truth(arg[0])
        if name == "Fn::And":
            return all(self.truth(a) for a in arg)
        if name == "Fn::Or":
            return any(self.truth(a) for a in arg)
        if name == "Fn::Contains":
            values, value = arg
            return str(self.value(value)) in [str(self.value(v)) for v in values]
        raise ValueError(f"template: {name} is not a condition this simulation evaluates")

    def environment(self, function: str) -> dict[str, str]:
        """The function's environment variables as Lambda would set them (strings)."""
        resources = self.template["Resources"]
        variables = {
            **self.template.get("Globals", {})
            .get("Function", {})
            .get("Environment", {})
            .get("Variables", {}),
            **resources[function]["Properties"].get("Environment", {}).get("Variables", {}),
        }
        return {name: _text(self.value(value)) for name, value in variables.items()}

    def check(self) -> None:
        """Raise :class:`RefusedParameters` for what CloudFormation would refuse."""
        specs = self.template["Parameters"]
        unknown = set(self.parameters) - set(specs)
        if unknown:
            raise RefusedParameters(f"no such template parameters: {sorted(unknown)}")
        for name, spec in specs.items():
            value = self.parameters.get(name)
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(value) not in [str(v) for v in allowed]:
                raise RefusedParameters(f"{name}={value!r} is not one of {allowed}")
            if spec.get("Type") == "Number":
                try:
                    number = float(str(value))
                except ValueError:
                    raise RefusedParameters(f"{name}={value!r} is not a number") from None
                if "MinValue" in spec and number < float(spec["MinValue"]):
                    raise RefusedParameters(f"{name}={value} is under its MinValue {spec['MinValue']}")
                if "MaxValue" in spec and number > float(spec["MaxValue"]):
                    raise RefusedParameters(f"{name}={value} is over its MaxValue {spec['MaxValue']}")
        for rule_name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", ()):
                if not self.truth(assertion["Assert"]):
                    description = " ".join(str(assertion.get("AssertDescription", "")).split())
                    raise RefusedParameters(f"template rule {rule_name}: {description}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
