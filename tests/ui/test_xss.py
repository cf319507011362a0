"""Untrusted span content renders as text: no markup, no script, no handler ever runs."""

from __future__ import annotations

import json

from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id
from ui_helpers import screenshot, sign_in, wait_rendered

SCRIPT = "<script>window.__xss = 'script'; alert('script')</script>"
IMG = "<img src=x onerror=\"window.__xss='img'; alert('img')\">"
SVG = "<svg onload=\"window.__xss='svg'\"></svg>"


def _ingest_payloads(client) -> str:
    tid = trace_id()
    root, child, llm = span_id(), span_id(), span_id()
    spans = [
        make_span(
            tid,
            root,
            name=f"root {SCRIPT}",
            duration_ns=50_000_000,
            attributes={
                "user.note": IMG,
                "spanlink.input": json.dumps({"html": SCRIPT, IMG: [SVG]}),
                "gen_ai.agent.name": SVG,
            },
        ),
        make_span(
            tid,
            child,
            parent=root,
            name=f"child {IMG}",
            start=NOW + 1_000_000,
            error=f"failed {IMG}",
            events=[
                (
                    "exception",
                    NOW + 2_000_000,
                    {
                        "exception.type": SCRIPT,
                        "exception.message": IMG,
                        "exception.stacktrace": f"Traceback\n  {SVG}",
                    },
                )
            ],
        ),
        make_span(
            tid,
            llm,
            parent=root,
            name="chat model",
            start=NOW + 3_000_000,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": IMG,
                "gen_ai.usage.input_tokens": 5,
                "gen_ai.output.messages": json.dumps([{"role": SCRIPT, "content": IMG}]),
            },
        ),
    ]
    request = make_request(
        spans, resource={"service.name": f"svc {IMG}", "deployment.environment.name": SCRIPT}
    )
    answer = post_proto(client, request)
    assert answer.status_code == 200, answer.text
    return tid.hex()


def _assert_inert(page) -> None:
    assert page.evaluate("window.__xss") is None
    assert (
        page.eval_on_selector_all("#view img, #view script, #view svg[onload]", "n => n.length")
        == 0
    )
    handlers = page.evaluate(
        "[...document.querySelectorAll('#view *')].filter(e => [...e.attributes]"
        ".some(a => a.name.startsWith('on'))).length"
    )
    assert handlers == 0
    page.problems.assert_clean()  # no dialog, no error, no CSP report


def test_payloads_render_as_text_on_every_page(page, receiver, api_key, client) -> None:
    tid = _ingest_payloads(client)
    sign_in(page, receiver.url, api_key)
    row = page.wait_for_selector(f"tr[data-trace-id='{tid}']")
    text = row.text_content()
    assert f"root {SCRIPT}" in text and f"svc {IMG}" in text and SCRIPT in text
    _assert_inert(page)

    page.click(f"tr[data-trace-id='{tid}'] a.trace-link")
    wait_rendered(page, "trace")
    names = page.eval_on_selector_all(".wf-row .span-name", "n => n.map(x => x.textContent)")
    assert names == [f"root {SCRIPT}", f"child {IMG}", "chat model"]
    assert page.text_content(".wf-row.llm .llm-info").startswith(IMG)

    page.click(".wf-row[data-depth='0']")
    panel = page.wait_for_selector(".panel:not([hidden])")
    assert SCRIPT in panel.text_content() and IMG in panel.text_content()
    assert SVG in page.text_content(".panel .io")
    _assert_inert(page)

    page.click(".wf-row.error")
    page.wait_for_selector(".panel .event.exception")
    assert page.text_content(".panel .status-message") == f"failed {IMG}"
    exception = page.text_content(".panel .event.exception")
    assert SCRIPT in exception and IMG in exception
    assert SVG in page.text_content(".panel pre.stacktrace")

    page.click(".wf-row.llm")
    page.wait_for_selector(".panel .model-call")
    assert IMG in page.text_content(".panel .model-call")
    assert SCRIPT in page.text_content(".panel .io")
    screenshot(page, "xss-as-text")
    _assert_inert(page)


def test_csp_blocks_injected_inline_script(page, receiver, api_key) -> None:
    """Even markup that reached the DOM could not run script: the CSP forbids inline code."""
    sign_in(page, receiver.url, api_key)
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inline = 1'; document.body.append(s); }"
    )
    assert page.evaluate("window.__inline") is None
    assert any("Content Security Policy" in m for m in page.problems.console_errors)
