"""The wire's test context and the tracer's ``TestContext`` name the same fields."""

from __future__ import annotations

import dataclasses

import spanlink.protocol as p
from spanlink.tracer import TestContext, current_test_context, test_context


def test_wire_fields_are_the_tracer_test_context_fields() -> None:
    assert tuple(f.name for f in dataclasses.fields(TestContext)) == p.TEST_CONTEXT_FIELDS


def test_a_decoded_test_context_opens_the_tracer_test_context() -> None:
    text = (
        '{"type":"invoke","v":1,"invocation_id":"i","function":"f",'
        '"test_context":{"run_id":"r","result_id":"res","later_field":"x"}}'
    )
    message = p.decode(text)
    assert isinstance(message, p.Invoke)
    with test_context(**message.test_context):
        assert current_test_context() == TestContext(run_id="r", result_id="res")
