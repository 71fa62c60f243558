"""How a component checks its arguments: with the stack file's own rules, in a component's words.

A component's typed arguments are validated by the same pydantic models (`gateway_config`) and
the same cross-value rules (`gateway_config.semantics.find_problems`) as a stack file, so a
value the stack file refuses is refused here too, with the same sentence. Only where the
problem is said differs: `WeightedRoute 'api': rules[0].matches[0].path: ...` names the
component and its argument instead of `stacks/Pulumi.<stack>.yaml: routes.0.rules.0...`.

The rules read a whole `StackConfig`; a component knows only its own part and what the
components it was given know (a route its Gateway's listeners and its backends' ports). So it
checks a *view*: a `StackConfig` holding just those parts (`stack_view`), and keeps only the
problems found in its own section (a Gateway's listener problems are the Gateway's to report).

Arguments that are all known when the program declares the component are checked at once,
before the component declares anything. Arguments given as Outputs (a namespace from a
Namespace resource, a hostname from a DNS record) are checked when they resolve, inside the
apply that builds the manifest: the resources built from it wait on that apply, so a bad
value fails the update before any of them is created.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Optional, TypeVar, Union

import pulumi
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from gateway_config.loader import _problem_from_pydantic  # the stack file's sentences, reused
from gateway_config.models import GatewayConfig, ListenerConfig, StackConfig
from gateway_config.semantics import Problem, find_problems

T = TypeVar("T")
Model = TypeVar("Model", bound=BaseModel)

# A placeholder listener for views of components that have no Gateway (a TlsCert, an
# EchoBackend): `StackConfig` needs one, and only the component's own section is read.
_NO_GATEWAY = GatewayConfig.model_construct(
    name="-", listeners=[ListenerConfig.model_construct(name="-", protocol="HTTP", port=80, hostname=None, tls=None, allowed_routes=None)]
)


class ArgumentProblem(pulumi.RunError):
    """A component argument that cannot be used: `str()` is one line per problem, e.g.
    `WeightedRoute 'api': rules[0].matches[0].path: path 'api' does not start with '/'; ...`.

    A `pulumi.RunError`, so the engine prints the message alone, without a Python traceback.
    """

    def __init__(self, component: str, name: str, problems: list[Problem]):
        self.component = component
        self.name = name
        self.problems = problems
        super().__init__("\n".join(f"{component} '{name}': {problem.path}: {problem.message}" for problem in problems))


def argument_path(dotted: str, arguments: Mapping[str, str]) -> str:
    """`rules.0.matches.0.path` -> `rules[0].matches[0].path`; the first part is renamed from
    the model's key to the keyword argument that carries it (`parentRefs` -> `parent_refs`)."""
    parts = dotted.split(".") if dotted else []
    if parts and parts[0] in arguments:
        parts[0] = arguments[parts[0]]
    result = ""
    for part in parts:
        result += f"[{part}]" if part.isdigit() else (f".{part}" if result else part)
    return result or "(arguments)"


def validate_model(
    model: type[Model], data: Any, *, component: str, name: str, arguments: Mapping[str, str] = {}
) -> Model:
    """`data` (the model itself, or a mapping in its camelCase keys) as `model`, or
    `ArgumentProblem` with every problem pydantic found, in the stack file's sentences."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [_problem_from_pydantic(detail) for detail in error.errors(include_url=False)]
        raise ArgumentProblem(
            component, name, [Problem(argument_path(problem.path, arguments), problem.message) for problem in problems]
        ) from None


def check_rules(
    view: StackConfig,
    section: str,
    *,
    component: str,
    name: str,
    arguments: Mapping[str, str] = {},
    more_sections: Mapping[str, str] = {},
) -> None:
    """Run the stack file's cross-value rules on `view` and raise `ArgumentProblem` for those
    found under `section` (e.g. `routes.0`), with paths relative to the component's arguments.
    `more_sections` maps other sections of the component's to the argument holding them (a
    SecurityPolicy's `credentials.<policy>` -> `credentials`)."""
    found = find_problems(view)
    problems = []
    for problem in found:
        for prefix, argument in ((section, None), *more_sections.items()):
            if problem.path == prefix or problem.path.startswith(prefix + "."):
                rest = problem.path[len(prefix):].lstrip(".")
                if argument is not None:
                    rest = f"{argument}.{rest}" if rest else argument
                problems.append(Problem(argument_path(rest, arguments), problem.message))
                break
    if problems:
        raise ArgumentProblem(component, name, problems)


# Views are copies of these (`model_copy`): building one with `model_construct` resolves every
# default again, which was a fifth of a 300-route program's time.
_EMPTY_STACK = StackConfig.model_construct(gateway=_NO_GATEWAY)
_EMPTY_GATEWAY = GatewayConfig.model_construct(name="-", listeners=[])


def stack_view(namespace: str, gateway: Optional[GatewayConfig] = None, **sections: Any) -> StackConfig:
    """A `StackConfig` holding only the given, already validated parts (not validated again)."""
    return _EMPTY_STACK.model_copy(update={"namespace": namespace, "gateway": gateway or _NO_GATEWAY, **sections})


def gateway_view(name: str, listeners: Any = ()) -> GatewayConfig:
    """A `GatewayConfig` of a Gateway component's name and (validated) listeners, for a view."""
    return _EMPTY_GATEWAY.model_copy(update={"name": name, "listeners": list(listeners)})


# --- known now, or once Outputs resolve ---------------------------------------------------------


def has_outputs(value: Any) -> bool:
    """Whether `value` holds an Output (or another awaitable) anywhere in its dicts and lists."""
    if isinstance(value, pulumi.Output) or inspect.isawaitable(value):
        return True
    if isinstance(value, Mapping):
        return any(has_outputs(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_outputs(item) for item in value)
    return False


def when_known(arguments: Mapping[str, Any], build: Callable[[dict[str, Any]], T]) -> Union[T, pulumi.Output[T]]:
    """`build(arguments)` now when every argument is known (so a problem is raised at once,
    before the component declares anything), else an Output of it once they resolve (a
    problem then fails the update; whatever takes the result as an input waits for it, and
    the result carries the dependencies of the Outputs it was built from)."""
    if not has_outputs(arguments):
        return build(dict(arguments))
    return pulumi.Output.from_input(dict(arguments)).apply(build)


def part(value: Union[T, pulumi.Output[T]], function: Callable[[T], Any]) -> Any:
    """`function(value)`, applied inside the Output when `value` is one."""
    return value.apply(function) if isinstance(value, pulumi.Output) else function(value)



def validate_value(annotation: Any, value: Any, *, component: str, name: str, argument: str) -> Any:
    """One keyword argument checked against a field type of the models (e.g. `DnsLabel` for
    a namespace), or `ArgumentProblem` naming the argument."""
    try:
        return _adapter(annotation).validate_python(value)
    except ValidationError as error:
        problems = [_problem_from_pydantic(detail) for detail in error.errors(include_url=False)]
        raise ArgumentProblem(
            component, name, [Problem(argument + (f".{problem.path}" if problem.path else ""), problem.message) for problem in problems]
        ) from None


_ADAPTERS: dict[Any, TypeAdapter] = {}


def _adapter(annotation: Any) -> TypeAdapter:
    if annotation not in _ADAPTERS:
        _ADAPTERS[annotation] = TypeAdapter(annotation, config=ConfigDict(strict=True))
    return _ADAPTERS[annotation]
