"""``@observe``: one span per call of a function, named and typed per the GenAI conventions.

Usable as ``@observe``, ``@observe()``, ``@observe(name=..., kind=..., ...)`` and through the
typed helpers ``observe.llm(model=, provider=)``, ``observe.tool(name=)``,
``observe.agent(name=)``, ``observe.retrieval()``, ``observe.embedding(model=)``,
``observe.rerank()``, ``observe.guardrail()``, ``observe.evaluation()``, ``observe.chain()``
and ``observe.transform()``, all made from one table (:data:`_HELPERS`).

The observer (``_observer``) does the work around each call; the wrappers (``_wrappers``)
are one per call shape (call, coroutine, generator, async generator).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar, overload

from opentelemetry.util.types import AttributeValue

from spanlink.tracer import _content as content
from spanlink.tracer import semconv
from spanlink.tracer._observer import KINDS, LLM_OPERATIONS, _Observer, is_attribute_value
from spanlink.tracer._wrappers import wrap

__all__ = ["KINDS", "Decorator", "observe"]

F = TypeVar("F", bound=Callable[..., Any])


class Decorator(Protocol):
    """What ``observe(...)`` returns: applied to a function, returns the traced function."""

    def __call__(self, func: F, /) -> F: ...


def _check_options(
    name: Any,
    kind: Any,
    capture_input: Any,
    capture_output: Any,
    attributes: Any,
    mask: Any,
) -> dict[str, AttributeValue] | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"observe(name=...) must be a non-empty str, not {name!r}")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(
            f"observe(kind={kind!r}) is not a known kind; use one of: {', '.join(KINDS)}"
        )
    for option, value in (("capture_input", capture_input), ("capture_output", capture_output)):
        if not isinstance(value, bool):
            raise TypeError(f"observe({option}=...) must be True or False, not {value!r}")
    if mask is not None and not callable(mask):
        raise TypeError(f"observe(mask=...) must be a callable taking one value, not {mask!r}")
    if attributes is None:
        return None
    if not isinstance(attributes, Mapping):
        raise TypeError("observe(attributes=...) must be a dict of str to attribute values")
    checked: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"observe(attributes=...) keys must be non-empty str, not {key!r}")
        if not is_attribute_value(value):
            raise TypeError(
                f"observe(attributes=...)[{key!r}] = {content.safe_repr(value, 80)} is not an "
                "OpenTelemetry attribute value: use str, bool, int, float or a list of one of them"
            )
        checked[key] = tuple(value) if isinstance(value, list) else value
    return checked


def _decorate(target: Any, options: dict[str, Any]) -> Any:
    """Wrap ``target`` (function, method, classmethod, staticmethod, callable object)."""
    if isinstance(target, (classmethod, staticmethod)):
        inner = _decorate_callable(
            target.__func__, options, receiver=isinstance(target, classmethod)
        )
        return type(target)(inner)
    if isinstance(target, type):
        raise TypeError(
            f"@observe cannot decorate the class {target.__qualname__}: decorate its methods"
        )
    if isinstance(target, str):
        raise TypeError(
            f"@observe({target!r}): pass the span name as a keyword, @observe(name={target!r})"
        )
    if not callable(target):
        raise TypeError(
            f"@observe can only decorate a function, method, classmethod or staticmethod, "
            f"not {type(target).__name__} {content.safe_repr(target, 80)}"
        )
    return _decorate_callable(target, options, receiver=False)


def _decorate_callable(func: Callable[..., Any], options: dict[str, Any], receiver: bool) -> Any:
    return wrap(func, _Observer(func, receiver=receiver, **options))


def _make(
    kind: str,
    name: str | None,
    capture_input: bool,
    capture_output: bool,
    attributes: Mapping[str, AttributeValue] | None,
    mask: content.Mask | None,
    model: str | None = None,
    provider: str | None = None,
    extra: Mapping[str, AttributeValue] | None = None,
) -> Decorator:
    checked = _check_options(name, kind, capture_input, capture_output, attributes, mask)
    for option, value in (("model", model), ("provider", provider)):
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError(f"observe: {option}= must be a non-empty str, not {value!r}")
    options: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "capture_input": capture_input,
        "capture_output": capture_output,
        "attributes": checked,
        "mask": mask,
        "model": model,
        "provider": provider,
        "extra": extra,
    }

    def decorator(func: F, /) -> F:
        wrapped: F = _decorate(func, options)
        return wrapped

    return decorator


@dataclass(frozen=True)
class _Helper:
    """One typed helper of ``observe``: its kind and the keywords it adds."""

    kind: str
    doc: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Keyword to the span attribute its value sets (when given)."""
    model: bool = False
    """Takes ``model=`` and ``provider=``."""
    operations: frozenset[str] = frozenset()
    """Takes ``operation=``, one of these (default: ``kind``)."""


_HELPERS: Final[Mapping[str, _Helper]] = {
    "llm": _Helper(
        "chat",
        """A call to a language model: CLIENT span ``"<operation> <model>"``.

        ``operation``: ``chat`` (default), ``text_completion`` or ``generate_content``.
        Without ``model=``, an argument named ``model`` gives the request model. An
        argument named ``messages`` is recorded as ``gen_ai.input.messages``; tokens,
        response model and output messages are read from an OpenAI/Anthropic-shaped
        return value (or the chunks of a generator).
        """,
        model=True,
        operations=LLM_OPERATIONS,
    ),
    "embedding": _Helper(
        "embeddings",
        """A call to an embedding model: CLIENT span ``"embeddings <model>"``.""",
        model=True,
    ),
    "tool": _Helper(
        "tool",
        """A tool execution: span ``"execute_tool <name>"`` (default: the function name).""",
        {"description": semconv.GEN_AI_TOOL_DESCRIPTION},
    ),
    "agent": _Helper(
        "agent",
        """An agent invocation: span ``"invoke_agent <name>"`` (default: the function name).""",
        {"agent_id": semconv.GEN_AI_AGENT_ID, "description": semconv.GEN_AI_AGENT_DESCRIPTION},
    ),
    "retrieval": _Helper(
        "retrieval",
        """A retrieval: span ``"retrieval"`` (``"retrieval <data_source_id>"`` if given).

        An argument named ``query`` is recorded as ``gen_ai.retrieval.query.text``.
        """,
        {"data_source_id": semconv.GEN_AI_DATA_SOURCE_ID},
    ),
    "rerank": _Helper("rerank", """A reranking step (``spanlink.kind`` = ``rerank``)."""),
    "guardrail": _Helper("guardrail", """A guardrail check (``spanlink.kind`` = ``guardrail``)."""),
    "evaluation": _Helper("evaluation", """An evaluation (``spanlink.kind`` = ``evaluation``)."""),
    "chain": _Helper("chain", """A chain of steps (``spanlink.kind`` = ``chain``)."""),
    "transform": _Helper(
        "transform", """A data transformation (``spanlink.kind`` = ``transform``)."""
    ),
}


class _HelperDecorator:
    """``observe.<helper>(...)``: the decorator of one kind, built from its table entry."""

    def __init__(self, name: str, helper: _Helper) -> None:
        self._name = name
        self._helper = helper
        self._keywords = frozenset(
            [*helper.attributes, *(("model", "provider") if helper.model else ())]
            + (["operation"] if helper.operations else [])
        )
        self.__doc__ = helper.doc

    def __call__(
        self,
        *,
        name: str | None = None,
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
        **keywords: str | None,
    ) -> Decorator:
        helper = self._helper
        unknown = sorted(set(keywords) - self._keywords)
        if unknown:
            raise TypeError(
                f"observe.{self._name}() got unexpected keyword(s) {unknown}; it takes name=, "
                f"capture_input=, capture_output=, attributes=, mask= and {sorted(self._keywords)}"
            )
        kind = helper.kind
        operation = keywords.get("operation")
        if helper.operations and operation is not None:
            if operation not in helper.operations:
                raise ValueError(
                    f"observe.{self._name}(operation={operation!r}): use one of "
                    f"{sorted(helper.operations)}"
                )
            kind = operation
        extra: dict[str, AttributeValue] = {
            attribute: value
            for keyword, attribute in helper.attributes.items()
            if (value := keywords.get(keyword))
        }
        return _make(
            kind,
            name,
            capture_input,
            capture_output,
            attributes,
            mask,
            keywords.get("model"),
            keywords.get("provider"),
            extra or None,
        )

    def __repr__(self) -> str:
        return f"<spanlink.tracer.observe.{self._name}>"


class _Observe:
    """The ``observe`` decorator; see the module documentation."""

    @overload
    def __call__(self, func: F, /) -> F: ...

    @overload
    def __call__(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        kind: str = "function",
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Decorator: ...

    def __call__(
        self,
        func: Any = None,
        /,
        *,
        name: str | None = None,
        kind: str = "function",
        capture_input: bool = True,
        capture_output: bool = True,
        attributes: Mapping[str, AttributeValue] | None = None,
        mask: content.Mask | None = None,
    ) -> Any:
        """Trace every call of the decorated function in a span.

        ``name``: span name (default: the function's ``__qualname__``; for tools, agents
        and workflows the tool/agent/workflow name). ``kind``: one of :data:`KINDS`.
        ``capture_input``/``capture_output``: record the arguments / the result as
        bounded JSON (also subject to the global switch). ``attributes``: static span
        attributes. ``mask``: callable applied to every captured value before recording.
        """
        decorator = _make(kind, name, capture_input, capture_output, attributes, mask)
        if func is None:
            return decorator
        return decorator(func)

    llm: Final = _HelperDecorator("llm", _HELPERS["llm"])
    embedding: Final = _HelperDecorator("embedding", _HELPERS["embedding"])
    tool: Final = _HelperDecorator("tool", _HELPERS["tool"])
    agent: Final = _HelperDecorator("agent", _HELPERS["agent"])
    retrieval: Final = _HelperDecorator("retrieval", _HELPERS["retrieval"])
    rerank: Final = _HelperDecorator("rerank", _HELPERS["rerank"])
    guardrail: Final = _HelperDecorator("guardrail", _HELPERS["guardrail"])
    evaluation: Final = _HelperDecorator("evaluation", _HELPERS["evaluation"])
    chain: Final = _HelperDecorator("chain", _HELPERS["chain"])
    transform: Final = _HelperDecorator("transform", _HELPERS["transform"])

    def __repr__(self) -> str:
        return "<spanlink.tracer.observe>"


#: The decorator. See the module documentation.
observe: Final = _Observe()
