"""Every change this project makes to moto, in one place. Importing this module changes nothing.

Each patch is a context manager that callers enter explicitly (``with mock_aws(), cloudformation():``);
it is applied on entry and undone on exit. Uses may nest or overlap (a module-wide fixture around
per-test ones): a patch is applied at the first entry and undone at the last exit. Entering a patch first
checks that the installed moto is :data:`MOTO_VERSION`, the version they were written against
(``pyproject.toml`` pins it): each one replaces moto internals that another version may have changed.

=============================  ======================================================================
patch                          who applies it
=============================  ======================================================================
:func:`cloudformation`         everything that deploys ``template.yaml`` into moto (``deploy`` insists)
:func:`empty_map_keys`         the local pipeline (``covers run``, ``local-stack``), the ``aws`` fixture
:func:`atomic_dynamodb`        the local pipeline, the ``aws`` fixture, concurrency tests, the bench
:func:`lambda_invoke`          the local pipeline (Lambda tasks of the workflow run in-process)
:func:`unsupported_services`   ``covers local-stack``'s moto server
=============================  ======================================================================

What each patch fixes, and the moto issue when there is one, is said where it is defined below.
docs/getting-started.md, "moto patches", lists them for users.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import moto
from moto import backends
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.core.responses import BaseResponse
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.events.models import EventBus
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from covers_local import moto_cfn

#: The moto version these patches were written for (and the one ``pyproject.toml`` pins).
MOTO_VERSION = "5.2.5"

_MISSING = object()
_APPLY_LOCK = threading.RLock()
Replacement = tuple[object, str, object]  # (owner, attribute, new value)


class MotoVersionError(RuntimeError):
    """The installed moto is not the one the patches were written for."""


def check_moto_version() -> None:
    """Raise :class:`MotoVersionError` (one line, both versions) unless moto is :data:`MOTO_VERSION`."""
    found = getattr(moto, "__version__", "unknown")
    if found != MOTO_VERSION:
        raise MotoVersionError(
            f"covers_local/moto_patches.py was written for moto {MOTO_VERSION} but moto {found} is "
            f"installed: install moto=={MOTO_VERSION} (pyproject.toml), or review every patch there "
            "against the new moto before changing MOTO_VERSION"
        )


class Patch:
    """Attributes of moto's classes or modules replaced together while the patch is entered.

    ``build`` returns the replacements; it runs at each application, so it reads moto's originals then.
    Entering checks moto's version first (nothing is replaced if it is wrong). Re-entrant: applied at the
    first entry, undone at the last exit, from any thread."""

    def __init__(self, name: str, build: Callable[[], Iterable[Replacement]]) -> None:
        self.name = name
        self._build = build
        self._saved: list[tuple[object, str, object]] = []
        self._users = 0

    @property
    def applied(self) -> bool:
        return self._users > 0

    def __enter__(self) -> Patch:
        with _APPLY_LOCK:
            if self._users == 0:
                check_moto_version()
                self._apply()
            self._users += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with _APPLY_LOCK:
            self._users -= 1
            if self._users == 0:
                self._undo()

    def _apply(self) -> None:
        try:
            for owner, attribute, value in self._build():
                # vars(): the attribute as the owner itself holds it (a staticmethod stays one; an
                # inherited attribute is missing, and is deleted again on undo).
                self._saved.append((owner, attribute, vars(owner).get(attribute, _MISSING)))
                setattr(owner, attribute, value)
        except BaseException:
            self._undo()
            raise

    def _undo(self) -> None:
        while self._saved:
            owner, attribute, original = self._saved.pop()
            if original is _MISSING:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)


# --- CloudFormation ----------------------------------------------------------------------------------
#
# moto resolves a stack's outputs and resource summaries when they are read (DescribeStacks,
# ListStackResources), not only while it creates the stack: keep the patch applied for as long as the
# stack is read, not just around ``deploy``.


def _cloudformation() -> list[Replacement]:
    return [
        *_resource_models(moto_cfn.MODELS, hidden=moto_cfn.ApiCreated),
        _no_value_dropped_from_lists(),
        (EventBus, "physical_resource_id", property(lambda bus: bus.name)),
        _json_templates_parsed_as_json(),
    ]


def _resource_models(models: Iterable[type[CloudFormationModel]], hidden: type) -> list[Replacement]:
    """moto 5.2.5 skips several of our resource types with a warning ("No Moto CloudFormation support for
    AWS::SecretsManager::Secret", moto/cloudformation/parsing.py:278; a ``Ref`` to one then resolves to
    nothing): the secrets, the alarm, the HTTP API and its stage, the bucket, queue and topic policies, the
    topic subscription, the schema registry and schemas; ``AWS::Lambda::Version`` has no ``Version``
    attribute and ``AWS::Lambda::Alias`` none at all. Its state machine model ignores
    ``DefinitionSubstitutions`` and creates the machine in the backend the Step Functions API does not
    read once ``execute_state_machine`` is on (moto/stepfunctions/models.py:278-292).
    The patch adds the models of :mod:`covers_local.moto_cfn` (each created through moto's own API) to
    the three lookups moto picks a model with (``parsing.get_model_list``/``get_model_map``/
    ``get_name_type_map``, moto/cloudformation/parsing.py:87-102); ours come last, so a type moto models
    too (the state machine) is created by ours, and named by ours: moto's own model leaves the lookup, as
    moto takes a resource's name property from the first model of its type
    (``resource_name_property_from_type``, parsing.py:284-287), so ``StateMachineName`` names the machine
    (the backfill's role names it). No
    upstream issue found for these types or for ``DefinitionSubstitutions``."""
    original_list = parsing.get_model_list
    ours = {m.cloudformation_type() for m in models}
    listed = [m for m in original_list() if m is not hidden and m.cloudformation_type() not in ours]
    listed += list(models)
    by_type = {m.cloudformation_type(): m for m in listed}
    name_types = {m.cloudformation_type(): m.cloudformation_name_type() for m in listed}
    return [
        (parsing, "get_model_list", lambda: listed),
        (parsing, "get_model_map", lambda: by_type),
        (parsing, "get_name_type_map", lambda: name_types),
    ]


def _no_value_dropped_from_lists() -> Replacement:
    """``{"Ref": "AWS::NoValue"}`` resolves to ``None`` (moto/cloudformation/parsing.py:554); moto drops it
    from a map but keeps it in a list (parsing.py:258-267), where CloudFormation removes it: the SAM
    transform's ``Fn::If`` policy lists would carry a ``None``. The patch wraps ``parsing.clean_json``
    (which calls itself through the module, so nested lists are cleaned too) to drop ``None`` from lists.
    Related upstream: https://github.com/getmoto/moto/issues/870 (AWS::NoValue represented as None; closed
    in 2017 for properties, the list case remains in 5.2.5)."""
    clean_json = parsing.clean_json

    def clean_json_dropping_no_value(resource_json: Any, resources_map: Any) -> Any:
        cleaned = clean_json(resource_json, resources_map)
        if isinstance(resource_json, list):
            return [value for value in cleaned if value is not None]
        return cleaned

    return parsing, "clean_json", clean_json_dropping_no_value


# ``Ref`` to an ``AWS::Events::EventBus``: moto returns the resource's ``physical_resource_id``, or the
# model object itself when it has none (moto/cloudformation/parsing.py:131-137), and 5.2.5's EventBus
# (moto/events/models.py:378) has none, so a ``Ref`` to our bus put a Python object where the bus name
# belongs (in the functions' environment, in outputs). The patch gives EventBus the property, the bus
# name, as CloudFormation's ``Ref`` returns. The model came with https://github.com/getmoto/moto/issues/3048
# (CloudFormation support for AWS::Events::EventBus); no issue found for its ``Ref``.


def _json_templates_parsed_as_json() -> Replacement:
    """Not a bug, a cost: moto parses every template body with PyYAML's pure-Python loader first
    (``Stack.parse_template``, moto/cloudformation/models.py:503-509), about 3 s for our transformed
    template, on every deploy and template read. The template we send is JSON: the patch parses it with
    the json module first (milliseconds) and falls back to moto's parser for anything else. No upstream
    issue found."""
    parse_yaml_first = cfn_models.Stack.parse_template

    def parse_json_first(template: str) -> dict[str, Any]:
        try:
            parsed = json.loads(template)
        except ValueError:
            return parse_yaml_first(template)
        return parsed if isinstance(parsed, dict) else parse_yaml_first(template)

    return cfn_models.Stack, "parse_template", staticmethod(parse_json_first)


_CLOUDFORMATION = Patch("cloudformation", _cloudformation)


def cloudformation() -> Patch:
    """moto's CloudFormation as ``template.yaml`` needs it: :mod:`covers_local.moto_cfn`'s resource
    models, ``AWS::NoValue`` removed from lists, ``Ref`` to an event bus giving its name, JSON templates
    read as JSON. :func:`covers_local.stack.deploy` refuses to run without it."""
    return _CLOUDFORMATION


# --- DynamoDB answers: empty keys inside a map --------------------------------------------------------


def _empty_map_keys() -> list[Replacement]:
    """An item whose map attribute has an empty key (``{"metadata": {"M": {"": {"N": "1"}}}}``) is stored
    as sent, but every answer that carries it (GetItem, Query, Scan, UpdateItem's ``ALL_NEW``...) comes
    back malformed: moto's JSON response serializer writes the empty-keyed entry's members into the map
    itself (``{"M": {"N": "1"}}``), and botocore fails to parse the answer ("AttributeError: 'str' object
    has no attribute 'get'"). Cause: ``BaseJSONSerializer._serialize_type_map`` passes each map key as the
    member's key (moto/core/serialize.py:550-557), and ``_serialize_type_structure`` takes an empty key
    for "no key: write into the parent" (serialize.py:391-404). DynamoDB has used this serializer since
    moto 5.2.0 (https://github.com/getmoto/moto/pull/9773, "DynamoDB: migrate to new request
    parsing/response serialization"). No upstream issue found for the empty key.
    The patch serializes an empty-keyed entry under a stand-in key and files the result under ``""``."""
    original = BaseJSONSerializer._serialize_type_map
    stand_in = "\x00covers-empty-map-key"

    @functools.wraps(original)
    def serialize_type_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if not isinstance(value, Mapping) or "" not in value:
            original(self, serialized, value, shape, key)
            return
        map_obj = self.MAP_TYPE()
        self._default_serialize(serialized, map_obj, shape, key)
        for sub_key, sub_value in value.items():
            if sub_key:
                self._serialize(map_obj, sub_value, shape.value, sub_key)
                continue
            holder = self.MAP_TYPE()
            self._serialize(holder, sub_value, shape.value, stand_in)
            for serialized_value in holder.values():  # one entry (none for a None value)
                map_obj[""] = serialized_value

    return [(BaseJSONSerializer, "_serialize_type_map", serialize_type_map)]


_EMPTY_MAP_KEYS = Patch("empty_map_keys", _empty_map_keys)


def empty_map_keys() -> Patch:
    """moto's answers keep an empty key inside a map attribute (see :func:`_empty_map_keys`)."""
    return _EMPTY_MAP_KEYS


# --- DynamoDB: one request at a time ----------------------------------------------------------------

_DYNAMODB_LOCK = threading.RLock()
_SERIALISED_BACKEND_CALLS = ("put_item", "update_item", "get_item", "delete_item", "scan", "query")


def _atomic_dynamodb() -> list[Replacement]:
    """DynamoDB applies each request atomically; moto checks a write's condition and then writes
    (moto/dynamodb/models/table.py:617-680, no lock), and iterates a table's items while other threads add
    some. With Step Functions executions running handlers in threads (and a start batch's records written
    in parallel), both would race inside moto itself. The patch takes one lock around moto's DynamoDB
    backend calls, and around the whole of BatchGetItem's response handler, which reads live items after
    the backend call (moto/dynamodb/responses.py:826). No upstream issue found."""
    replacements: list[Replacement] = [
        (DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
        for name in _SERIALISED_BACKEND_CALLS
    ]
    replacements.append((DynamoHandler, "batch_get_item", _serialised(DynamoHandler.batch_get_item)))
    return replacements


def _serialised(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _DYNAMODB_LOCK:
            return call(*args, **kwargs)

    return locked


_ATOMIC_DYNAMODB = Patch("atomic_dynamodb", _atomic_dynamodb)


def atomic_dynamodb() -> Patch:
    """moto's DynamoDB serves one request at a time, as DynamoDB applies each one atomically."""
    return _ATOMIC_DYNAMODB


# --- Lambda: invocations run the real handler in-process ----------------------------------------------


def lambda_invoke(invoke: Callable[..., bytes]) -> Patch:
    """What moto lacks: without Docker (``{"lambda": {"use_docker": False}}``) moto's Lambda is
    ``awslambda_simple``, whose ``invoke`` answers the request body or a canned result
    (moto/awslambda_simple/models.py:17-28) instead of running the function. The patch replaces
    ``LambdaSimpleBackend.invoke`` with ``invoke`` (same signature: backend, function_name, qualifier,
    body, headers, response_headers), which the local pipeline points at the real handlers, so the
    workflow's Lambda tasks (moto's Step Functions engine calls Invoke) run our code. Not a moto bug: no
    upstream issue. Each call gives a new patch (not shared: it holds its own ``invoke``)."""
    return Patch("lambda_invoke", lambda: [(LambdaSimpleBackend, "invoke", invoke)])


# --- moto's server: a service it does not implement ---------------------------------------------------


def _unsupported_services() -> list[Replacement]:
    """moto's server (``ThreadedMotoServer``, which ``covers local-stack`` serves) answers a request for a
    service moto has no backend for (``aws schemas list-registries``: EventBridge Schemas) by failing in
    ``DomainDispatcherApplication.get_application`` (moto/moto_server/werkzeug_app.py:297-307 looks the
    backend up, finds None, and ``moto/backends.py`` calls ``None.replace``): 500, a traceback on the
    console per attempt, and the client retries. The patch answers such a request, before moto looks at it,
    with 501 ``NotImplementedException`` naming the service, and no traceback. Only signed requests (every
    SDK and the AWS CLI sign) whose signing service moto's own inference maps to no backend are answered
    so; everything else goes to moto as before. No upstream issue: moto implements a list of services.

    The same for an action moto's backend for a service lacks (``covers doctor`` asks Service Quotas'
    ``ListServiceQuotas``): ``BaseResponse.call_action`` raises ``NotImplementedError``
    (moto/core/responses.py:483), which the server answers 500 with a traceback and the client retries; the
    patch answers it 501 ``NotImplementedException`` naming the action, as an unknown service."""
    original = DomainDispatcherApplication.__call__
    original_action = BaseResponse.call_action

    def call(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        service = _service_without_backend(self, environ)
        if service is None:
            return original(self, environ, start_response)
        body = json.dumps(
            {"message": f"the local stack (moto {MOTO_VERSION}) does not implement the {service} API"}
        ).encode()
        start_response(
            "501 Not Implemented",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("x-amzn-ErrorType", "NotImplementedException"),
            ],
        )
        return [body]

    def call_action(self: BaseResponse) -> Any:
        try:
            return original_action(self)
        except NotImplementedError as exc:
            message = f"the local stack (moto {MOTO_VERSION}) does not implement this: {exc}"
            headers = {"x-amzn-ErrorType": "NotImplementedException", "Content-Type": "application/json"}
            return 501, headers, json.dumps({"__type": "NotImplementedException", "message": message})

    return [(DomainDispatcherApplication, "__call__", call), (BaseResponse, "call_action", call_action)]


def _service_without_backend(app: DomainDispatcherApplication, environ: Mapping[str, Any]) -> str | None:
    """The service a signed request is for, when moto has no backend for it; else None."""
    path = str(environ.get("PATH_INFO", ""))
    if "Credential=" not in str(environ.get("HTTP_AUTHORIZATION", "")) or path.startswith(
        ("/moto-api", "/latest/")
    ):
        return None
    with app.lock:  # (what moto itself holds around this inference)
        host = app.infer_service_region_host(dict(environ), path)
    if host is None or host in backends.list_of_moto_modules():
        return None
    if any(pattern.match(f"http://{host}") for _, pattern in app.backend_url_patterns):
        return None
    return host.split(".", 1)[0]


_UNSUPPORTED_SERVICES = Patch("unsupported_services", _unsupported_services)


def unsupported_services() -> Patch:
    """moto's server answers 501 for a service moto does not implement (see
    :func:`_unsupported_services`)."""
    return _UNSUPPORTED_SERVICES
