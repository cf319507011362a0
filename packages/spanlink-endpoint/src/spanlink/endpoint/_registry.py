"""``@endpoint``: register a function that a test run may invoke remotely.

Registration reads the signature and type hints once (parameters schema, output schema,
argument binder) and returns the function unchanged, so calling it directly costs nothing
extra. A client started with :func:`spanlink.endpoint.connect` announces every function of
its registry (the process-wide one by default) to the receiver.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

from spanlink.endpoint._arguments import Binder
from spanlink.endpoint._schema import (
    output_schema,
    parameters_schema,
    resolve_hints,
    stream_item_type,
)
from spanlink.protocol import FunctionSpec

__all__ = ["Endpoint", "Registry", "default_registry", "endpoint"]

F = TypeVar("F", bound=Callable[..., Any])

Style = Literal["sync", "async", "generator", "async_generator"]


def _style(func: Callable[..., Any]) -> Style:
    if inspect.isasyncgenfunction(func):
        return "async_generator"
    if inspect.isgeneratorfunction(func):
        return "generator"
    if inspect.iscoroutinefunction(func):
        return "async"
    return "sync"


@dataclass(frozen=True, eq=False)
class Endpoint:
    """A registered function and everything computed about it at registration."""

    name: str
    func: Callable[..., Any]
    style: Style
    parameters: dict[str, Any]
    returns: dict[str, Any]
    metadata: dict[str, Any]
    description: str | None
    binder: Binder = field(repr=False)
    stream_item: Any = field(default=Any, repr=False)

    @classmethod
    def create(
        cls, func: Callable[..., Any], name: str | None, metadata: Mapping[str, Any]
    ) -> Endpoint:
        """Inspect ``func``; raises ``TypeError``/``ValueError`` with what to fix."""
        if not callable(func):
            raise TypeError(f"@endpoint needs a function, got {type(func).__name__}")
        resolved = name if name is not None else getattr(func, "__name__", None)
        if not isinstance(resolved, str) or not resolved.strip():
            raise ValueError("@endpoint needs a name: pass name='...' for this callable")
        try:
            json.dumps(dict(metadata), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"@endpoint metadata of {resolved!r} must be JSON-serialisable "
                f"(str, numbers, bools, None, lists, dicts): {error}"
            ) from None
        try:
            inspect.signature(func)
        except (TypeError, ValueError):
            raise TypeError(
                f"@endpoint cannot read the parameters of {resolved!r}; wrap it in a "
                "function with a Python signature"
            ) from None
        style = _style(func)
        streaming = style in ("generator", "async_generator")
        doc = inspect.getdoc(func)
        return cls(
            name=resolved,
            func=func,
            style=style,
            parameters=parameters_schema(func),
            returns=output_schema(func, streaming),
            metadata=dict(metadata),
            description=doc or None,
            binder=Binder(func),
            stream_item=stream_item_type(resolve_hints(func).get("return", Any)),
        )

    @property
    def streaming(self) -> bool:
        """True for generators and async generators."""
        return self.style in ("generator", "async_generator")

    def spec(self) -> FunctionSpec:
        """The ``register`` entry for this function."""
        return FunctionSpec(
            name=self.name,
            parameters=self.parameters,
            returns=self.returns,
            metadata=self.metadata,
            description=self.description,
            streaming=self.streaming,
        )


class Registry:
    """Functions by name. Thread-safe; a client reads it when it (re)registers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoints: dict[str, Endpoint] = {}

    def add(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Endpoint:
        """Register ``func``. Re-registering the same function (e.g. a module reload)
        replaces it; another function under a taken name is a ``ValueError``."""
        item = Endpoint.create(func, name, metadata or {})
        with self._lock:
            existing = self._endpoints.get(item.name)
            if existing is not None and not _same_function(existing.func, func):
                raise ValueError(
                    f"an endpoint named {item.name!r} is already registered "
                    f"({_describe(existing.func)}); pass a different name= to @endpoint"
                )
            self._endpoints[item.name] = item
        return item

    def remove(self, name: str) -> bool:
        """Unregister ``name``; True when it was registered."""
        with self._lock:
            return self._endpoints.pop(name, None) is not None

    def get(self, name: str) -> Endpoint | None:
        """The endpoint registered as ``name``, or None."""
        with self._lock:
            return self._endpoints.get(name)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        with self._lock:
            return sorted(self._endpoints)

    def specs(self) -> tuple[FunctionSpec, ...]:
        """The ``register`` entries of every function, sorted by name."""
        with self._lock:
            items = sorted(self._endpoints.values(), key=lambda e: e.name)
        return tuple(item.spec() for item in items)

    def __iter__(self) -> Iterator[Endpoint]:
        with self._lock:
            return iter(list(self._endpoints.values()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._endpoints)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._endpoints

    @overload
    def endpoint(self, func: F, /) -> F: ...

    @overload
    def endpoint(
        self, func: None = None, /, *, name: str | None = None, **metadata: Any
    ) -> Callable[[F], F]: ...

    def endpoint(self, func: Any = None, /, *, name: str | None = None, **metadata: Any) -> Any:
        """Decorator registering a function in this registry; see :func:`endpoint`."""

        def decorate(target: F) -> F:
            self.add(target, name, metadata)
            return target

        if func is not None:
            return decorate(func)
        return decorate


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    if a is b:
        return True
    return bool(
        getattr(a, "__module__", None) == getattr(b, "__module__", None)
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
        and getattr(a, "__qualname__", None) is not None
    )


def _describe(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", "?")
    qualname = getattr(func, "__qualname__", repr(func))
    return f"{module}.{qualname}"


#: The process-wide registry that ``@endpoint`` and ``connect()`` use by default.
default_registry = Registry()


@overload
def endpoint(func: F, /) -> F: ...


@overload
def endpoint(
    func: None = None, /, *, name: str | None = None, **metadata: Any
) -> Callable[[F], F]: ...


def endpoint(func: Any = None, /, *, name: str | None = None, **metadata: Any) -> Any:
    """Register a function so that a test run can invoke it through a connected client.

    Usable as ``@endpoint`` or ``@endpoint(name="answer", team="support")``. The function
    may be sync, async, a generator or an async generator (its output is then the
    concatenation of its str chunks, or the list of its chunks). Its parameters' type hints
    give the JSON schema announced to the receiver and are used to convert the JSON
    arguments of each invocation (dataclasses and pydantic models are built from objects).
    ``metadata`` must be JSON-serialisable. Returns the function unchanged.
    """
    return default_registry.endpoint(func, name=name, **metadata)
