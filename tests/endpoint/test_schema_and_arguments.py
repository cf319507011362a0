"""JSON schemas from type hints, and JSON arguments converted to what the hints ask for."""

from __future__ import annotations

import datetime
import enum
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

import jsonschema
import pydantic
import pytest

from spanlink.endpoint import Endpoint, InvalidArguments, Registry
from spanlink.endpoint._arguments import Binder
from spanlink.endpoint._schema import output_schema, parameters_schema, type_schema


class Tone(enum.Enum):
    FORMAL = "formal"
    CASUAL = "casual"


@dataclass
class Address:
    city: str
    zip: str | None = None


@dataclass
class Customer:
    """A customer of the shop."""

    name: str
    address: Address
    tags: list[str] = field(default_factory=list)
    tier: Literal["free", "pro"] = "free"


@dataclass
class Node:
    value: int
    children: list[Node] = field(default_factory=list)


class Options(TypedDict, total=False):
    temperature: float
    stop: list[str]


class Query(pydantic.BaseModel):
    text: str
    k: int = 3
    address: Address | None = None


def kitchen_sink(
    question: str,
    customer: Customer,
    k: int = 5,
    temperature: Optional[float] = None,  # noqa: UP045 - the typing spelling is tested too
    mode: Union[int, str] = "auto",  # noqa: UP007
    tone: Tone = Tone.FORMAL,
    tags: Sequence[str] = (),
    weights: dict[str, float] | None = None,
    pair: tuple[int, str] = (1, "a"),
    when: datetime.datetime | None = None,
    query: Query | None = None,
    options: Options | None = None,
    note: Annotated[str, "free text from the tester"] = "",
    **extra: Any,
) -> dict[str, Any]:
    return {}


def test_parameters_schema_covers_the_common_hints() -> None:
    schema = parameters_schema(kitchen_sink)
    jsonschema.Draft202012Validator.check_schema(schema)
    props = schema["properties"]
    assert schema["required"] == ["question", "customer"]
    assert schema["additionalProperties"] is True  # **extra
    assert props["question"] == {"type": "string"}
    assert props["k"] == {"type": "integer", "default": 5}
    assert props["temperature"] == {
        "anyOf": [{"type": "number"}, {"type": "null"}],
        "default": None,
    }
    assert props["mode"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["tone"] == {"allOf": [{"$ref": "#/$defs/Tone"}], "default": "formal"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "default": []}
    assert props["weights"]["anyOf"][0] == {
        "type": "object",
        "additionalProperties": {"type": "number"},
    }
    assert props["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["when"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert props["note"] == {
        "type": "string",
        "description": "free text from the tester",
        "default": "",
    }
    defs = schema["$defs"]
    assert defs["Tone"] == {"title": "Tone", "enum": ["formal", "casual"], "type": "string"}
    assert defs["Customer"]["required"] == ["name", "address"]
    assert defs["Customer"]["description"] == "A customer of the shop."
    assert defs["Customer"]["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert defs["Customer"]["properties"]["tier"] == {"enum": ["free", "pro"], "default": "free"}
    assert defs["Options"]["properties"]["stop"] == {"type": "array", "items": {"type": "string"}}
    assert "required" not in defs["Options"]  # total=False
    # Pydantic's own schema, its $defs hoisted next to ours.
    assert defs["Query"]["properties"]["k"]["default"] == 3
    assert defs["Query"]["required"] == ["text"]

    valid = {
        "question": "q",
        "customer": {"name": "Ann", "address": {"city": "Oslo"}, "tier": "pro"},
        "tone": "casual",
        "query": {"text": "t", "address": {"city": "Rome", "zip": None}},
        "options": {"temperature": 0.2},
    }
    jsonschema.validate(valid, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**valid, "customer": {"name": "Ann"}}, schema)


def test_recursive_dataclass_refers_to_itself() -> None:
    schema = type_schema(Node)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$ref"] == "#/$defs/Node"
    assert schema["$defs"]["Node"]["properties"]["children"] == {
        "type": "array",
        "items": {"$ref": "#/$defs/Node"},
    }
    jsonschema.validate({"value": 1, "children": [{"value": 2}]}, schema)


def test_output_schemas_of_functions_and_generators() -> None:
    def words() -> Iterator[str]:
        yield "a"

    async def numbers() -> AsyncIterator[int]:
        yield 1

    def untyped(x, y=2):  # type: ignore[no-untyped-def]
        return x

    assert output_schema(kitchen_sink, streaming=False) == {"type": "object"}
    assert output_schema(words, streaming=True) == {"type": "string"}
    assert output_schema(numbers, streaming=True) == {"type": "array", "items": {"type": "integer"}}
    assert output_schema(untyped, streaming=False) == {}
    assert parameters_schema(untyped) == {
        "type": "object",
        "properties": {"x": {}, "y": {"default": 2}},
        "required": ["x"],
        "additionalProperties": False,
    }


def test_unresolvable_hints_do_not_break_registration() -> None:
    def later(x: NotDefinedAnywhere, n: int) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    item = Registry().add(later)
    assert item.parameters["properties"] == {"x": {}, "n": {"type": "integer"}}
    with pytest.raises(InvalidArguments, match="n: expected integer"):
        item.binder.bind("later", {"x": 1, "n": "1"})
    marker = object()
    assert item.binder.bind("later", {"x": marker, "n": 1}) == ([], {"x": marker, "n": 1})


def _bind(func: Any, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return Binder(func).bind(func.__name__, arguments)


def test_arguments_are_converted_to_the_hinted_types() -> None:
    when = "2026-01-02T03:04:05+00:00"
    args, kwargs = _bind(
        kitchen_sink,
        {
            "question": "q",
            "customer": {"name": "Ann", "address": {"city": "Oslo"}, "tags": ["vip"]},
            "k": 2.0,
            "temperature": 1,
            "mode": 3,
            "tone": "casual",
            "pair": [7, "x"],
            "when": when,
            "query": {"text": "t", "k": 9},
            "options": {"temperature": 0.5},
            "custom": {"anything": True},
        },
    )
    assert args == []
    assert kwargs["customer"] == Customer(name="Ann", address=Address(city="Oslo"), tags=["vip"])
    assert kwargs["k"] == 2 and isinstance(kwargs["k"], int)
    assert kwargs["temperature"] == 1.0 and isinstance(kwargs["temperature"], float)
    assert kwargs["mode"] == 3
    assert kwargs["tone"] is Tone.CASUAL
    assert kwargs["pair"] == (7, "x")
    assert kwargs["when"] == datetime.datetime.fromisoformat(when)
    assert isinstance(kwargs["query"], Query) and kwargs["query"].k == 9
    assert kwargs["options"] == {"temperature": 0.5}
    assert kwargs["custom"] == {"anything": True}  # **extra takes the rest as given


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(InvalidArguments) as raised:
        _bind(
            kitchen_sink,
            {
                "customer": {"name": "Ann", "address": {"town": "x"}},
                "k": True,
                "tone": "angry",
                "pair": [1],
                "when": "yesterday",
                "query": {"k": "many"},
            },
        )
    text = str(raised.value)
    assert text.startswith("invalid arguments for 'kitchen_sink': ")
    assert "missing required argument 'question'" in text
    assert "customer.address: missing required field(s) ['city']" in text
    assert "k: expected integer, got boolean" in text
    assert "tone: expected one of ['formal', 'casual'], got 'angry'" in text
    assert "pair: expected an array of 2 items, got 1" in text
    assert "when: " in text and "'yesterday'" in text
    assert "query: " in text and "text" in text  # pydantic's own message, field named
    assert "Expected parameters: (question: str, customer: Customer, k: int = 5," in text


def test_strict_json_types_and_unions() -> None:
    def f(n: int, flag: bool, ratio: float, maybe: int | None, either: int | str) -> None:
        pass

    base = {"n": 1, "flag": True, "ratio": 1, "maybe": None, "either": "s"}
    _, kwargs = _bind(f, base)
    assert kwargs == {"n": 1, "flag": True, "ratio": 1.0, "maybe": None, "either": "s"}
    for key, value, message in [
        ("n", "1", "n: expected integer, got string"),
        ("n", 1.5, "n: expected integer, got number"),
        ("flag", 1, "flag: expected boolean, got integer"),
        ("ratio", "0.5", "ratio: expected number, got string"),
        ("maybe", "x", "maybe: matches none of the allowed types"),
        ("either", [1], "either: matches none of the allowed types"),
    ]:
        with pytest.raises(InvalidArguments, match=message):
            _bind(f, {**base, key: value})


def test_positional_only_and_var_positional_parameters() -> None:
    def f(a: int, b: int = 2, /, *rest: int, c: str = "c") -> None:
        pass

    assert _bind(f, {"a": 1, "c": "x"}) == ([1, 2], {"c": "x"})
    assert "rest" not in parameters_schema(f)["properties"]
    with pytest.raises(InvalidArguments, match=r"unexpected argument\(s\) \['rest'\]"):
        _bind(f, {"a": 1, "rest": [1]})


@dataclass
class Positive:
    value: int

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ValueError("value must be positive")


def test_dataclass_post_init_errors_are_argument_errors() -> None:
    def f(p: Positive) -> None:
        pass

    with pytest.raises(InvalidArguments, match="p: ValueError: value must be positive"):
        _bind(f, {"p": {"value": -1}})
    with pytest.raises(InvalidArguments, match=r"p: unknown field\(s\) \['extra'\]"):
        _bind(f, {"p": {"value": 1, "extra": 2}})


def test_uuid_bytes_and_sets() -> None:
    def f(id: uuid.UUID, blob: bytes, labels: frozenset[str]) -> None:
        pass

    _, kwargs = _bind(f, {"id": str(uuid.UUID(int=1)), "blob": "aGk=", "labels": ["a", "a"]})
    assert kwargs == {"id": uuid.UUID(int=1), "blob": b"hi", "labels": frozenset({"a"})}
    with pytest.raises(InvalidArguments, match="blob: expected base64 string"):
        _bind(f, {"id": str(uuid.UUID(int=1)), "blob": "%%%", "labels": []})


def test_registry_names_duplicates_metadata_and_styles() -> None:
    registry = Registry()

    @registry.endpoint(name="custom", owner="qa")
    async def f() -> None:
        pass

    @registry.endpoint
    async def g() -> AsyncIterator[str]:
        yield "x"

    assert registry.names() == ["custom", "g"] and "custom" in registry and len(registry) == 2
    item = registry.get("custom")
    assert isinstance(item, Endpoint) and item.style == "async" and item.metadata == {"owner": "qa"}
    assert registry.get("g") is not None and registry.get("g").streaming  # type: ignore[union-attr]
    registry.add(f, "custom")  # the same function again (e.g. a reload): replaced, no error

    def other() -> None:
        pass

    with pytest.raises(ValueError, match="'custom' is already registered"):
        registry.add(other, "custom")
    with pytest.raises(TypeError, match="must be JSON-serialisable"):
        registry.add(other, "bad", {"when": datetime.date.today()})
    with pytest.raises(ValueError, match="needs a name"):
        registry.add(other, " ")
    with pytest.raises(TypeError, match="cannot read the parameters of 'builtin'"):
        registry.add(max, "builtin")
    with pytest.raises(TypeError, match="needs a function"):
        registry.add("not callable", "x")  # type: ignore[arg-type]
    assert registry.remove("g") and not registry.remove("g")
    assert [spec.name for spec in registry.specs()] == ["custom"]
