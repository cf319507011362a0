"""Sign-in: the key is asked once, kept in sessionStorage, sent as Bearer, never in a URL."""

from __future__ import annotations

from ui_helpers import screenshot, sign_in, wait_rendered


def test_wrong_key_gets_a_clear_message_and_is_not_kept(page, receiver) -> None:
    page.goto(f"{receiver.url}/")
    page.wait_for_selector("main[data-rendered=signin]")
    assert page.url == f"{receiver.url}/ui/"
    page.fill("#api-key", "slk_not_a_real_key")
    page.click("form.signin button[type=submit]")
    alert = page.wait_for_selector(".signin [role=alert]")
    assert "Wrong API key" in alert.text_content()
    assert page.evaluate("sessionStorage.getItem('spanlink.apiKey')") is None
    assert "slk_" not in page.url
    screenshot(page, "signin-wrong-key")


def test_sign_in_keeps_the_key_in_session_storage_and_sends_it_as_bearer(
    page, receiver, api_key
) -> None:
    requests = []
    page.on("request", lambda request: requests.append(request))
    sign_in(page, receiver.url, api_key)
    assert page.evaluate("sessionStorage.getItem('spanlink.apiKey')") == api_key
    assert page.evaluate("localStorage.length") == 0
    api_calls = [r for r in requests if "/api/v1/" in r.url]
    assert api_calls
    for request in requests:
        assert api_key not in request.url
    for request in api_calls:
        assert request.headers["authorization"] == f"Bearer {api_key}"
    # Reloading the tab keeps the session; the key never shows up in the address bar.
    page.reload()
    wait_rendered(page, "traces")
    assert api_key not in page.url
    page.problems.assert_clean()


def test_sign_out_forgets_the_key(page, receiver, api_key) -> None:
    sign_in(page, receiver.url, api_key)
    page.click("#signout")
    page.wait_for_selector("main[data-rendered=signin]")
    assert page.evaluate("sessionStorage.getItem('spanlink.apiKey')") is None


def test_a_key_revoked_during_the_session_sends_back_to_sign_in(page, receiver, api_key) -> None:
    sign_in(page, receiver.url, api_key)
    page.evaluate("sessionStorage.setItem('spanlink.apiKey', 'slk_revoked')")
    page.goto(f"{receiver.url}/ui/#/metrics")
    alert = page.wait_for_selector(".signin [role=alert]")
    assert "not accepted" in alert.text_content()
