"""The real web app on a free loopback port, asked through gradio_client and a real HTTP client."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.helpers import copy_corpus, running_app

    base = tmp_path_factory.mktemp("web")
    with running_app(base, copy_corpus(base / "docs")) as url:
        yield url


def test_gradio_client_asks(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    result = client.predict("Can I take my mobile phone in?", api_name="/ask")
    assert result["grounded"] is True
    assert result["citations"][0]["source"] == "guidance/phones.md"


def test_gradio_chat_handler_returns_the_answer_view(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    # the conversation lives on the server: the endpoint takes only the question and filters,
    # and returns the conversation's HTML and the copy the browser keeps
    box, conversation, kept = client.predict(
        "Can I take my mobile phone in?", "any", "any", api_name="/chat")
    assert box == "" and "class='cite' data-card='t1-s1'" in conversation
    assert "<li class='source-card' id='t1-s1'" in conversation
    assert "Phones and recording devices" in conversation and "Not covered" not in conversation
    assert kept["turns"][0]["citations"][0]["source"] == "guidance/phones.md"


def test_http_api_ask_and_status(server):
    reply = httpx.post(f"{server}/api/ask", json={"question": "Can I take my mobile phone into a prison?"},
                       timeout=30)
    assert reply.status_code == 200
    body = reply.json()
    assert body["grounded"] and body["citations"]
    status = httpx.get(f"{server}/api/status", timeout=10).json()
    assert status["ready"] and status["documents"] == 4


@pytest.mark.parametrize("payload,status", [
    (b"{not json", 422),
    (b'{"history": []}', 422),
    (b'{"question": 42}', 422),
    (b'{"question": "hi", "filters": {"setting": "moon"}}', 400),
])
def test_http_api_rejects_bad_requests_with_a_sentence(server, payload, status):
    reply = httpx.post(f"{server}/api/ask", content=payload,
                       headers={"content-type": "application/json"}, timeout=30)
    assert reply.status_code == status
    assert reply.json()["error"].endswith(".")


def test_oversized_body_is_refused(server):
    reply = httpx.post(f"{server}/api/ask", content=b'{"question": "' + b"a" * 70000 + b'"}',
                       headers={"content-type": "application/json"}, timeout=30)
    assert reply.status_code == 413


def test_follow_up_through_the_api(server):
    history = [{"role": "user", "content": "Can I take my mobile phone into a prison?"},
               {"role": "assistant", "content": "No. [1]"}]
    body = httpx.post(f"{server}/api/ask", json={"question": "and cameras?", "history": history},
                      timeout=30).json()
    assert body["searched"] == "Can I take my mobile phone into a prison? and cameras?"


def test_documents_endpoint_serves_originals_and_refuses_escapes(server):
    ok = httpx.get(f"{server}/api/documents/guidance/phones.md", timeout=10)
    assert ok.status_code == 200 and "written authorisation" in ok.text
    for bad in ("../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "guidance/..%2f..%2fsecret"):
        reply = httpx.get(f"{server}/api/documents/{bad}", timeout=10)
        assert reply.status_code in (400, 404), bad
        assert "root:" not in reply.text
    assert httpx.get(f"{server}/api/documents/guidance/none.md", timeout=10).status_code == 404
    assert httpx.get(f"{server}/api/documents/guidance/phones.md?page=1",
                     timeout=10).status_code == 400


def test_openapi_schema_is_served(server):
    schema = httpx.get(f"{server}/openapi.json", timeout=10).json()
    assert "/api/ask" in schema["paths"] and "/api/documents/{source}" in schema["paths"]


def test_fuzzed_requests_never_get_a_500(server):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=200))
    values = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                          | st.dictionaries(st.text(max_size=10), children, max_size=4),
                          max_leaves=10)
    bodies = st.one_of(
        st.dictionaries(st.sampled_from(["question", "history", "filters", "extra"]), values),
        st.fixed_dictionaries({"question": st.text(max_size=300)},
                              optional={"history": values, "filters": values}),
        values,
    )

    with httpx.Client(timeout=30) as client:
        @settings(max_examples=60, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(bodies)
        def check(body):
            reply = client.post(f"{server}/api/ask", json=body)
            assert reply.status_code < 500, (body, reply.text)

        check()

        @settings(max_examples=30, deadline=None)
        @given(st.binary(max_size=300))
        def check_raw(data):
            reply = client.post(f"{server}/api/ask", content=data,
                                headers={"content-type": "application/json"})
            assert reply.status_code < 500, (data, reply.text)

        check_raw()
