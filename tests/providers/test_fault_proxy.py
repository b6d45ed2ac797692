"""The fault-injecting proxy (tests/helpers/fault_proxy.py) between the official `openai` SDK
and the real llama_cpp.server: each fault reaches the SDK as the failure it stands
for, and the proxy's counters say what happened. These tests also pin down what the
SDK does on each fault, which the provider's error handling relies on."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import urllib.request

import httpx2
import openai
import pytest
from helpers import free_port
from helpers.fault_proxy import KINDS, FaultProxy, Record

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "Say hello."}]


def sdk(proxy: FaultProxy, *, max_retries: int = 0, timeout: float = 60,
        **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.base_url + "/v1", api_key="x",
                         max_retries=max_retries, timeout=timeout, **options)


def chat(client: openai.OpenAI, max_tokens: int = 4):
    return client.chat.completions.create(model="smollm2", messages=MESSAGES,
                                          max_tokens=max_tokens, temperature=0)


def proxy_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("fault-proxy")]


# -- pass-through ------------------------------------------------------------------


@pytest.mark.slow
def test_clean_pass_through_answers_a_chat_completion(fault_proxy):
    proxy = fault_proxy()
    reply = chat(sdk(proxy))
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert proxy.log == [Record(CHAT, "ok", "POST", 200)]
    assert (proxy.total, proxy.forwarded, proxy.injected) == (1, 1, {})


@pytest.mark.slow
def test_forwards_models_completions_and_upstream_errors(fault_proxy):
    proxy = fault_proxy()
    client = sdk(proxy)
    assert [m.id for m in client.models.list()]
    done = client.completions.create(model="smollm2", prompt="Hello", max_tokens=3)
    assert done.choices[0].text
    # this server runs without embeddings: its own 500 comes through unchanged
    with pytest.raises(openai.InternalServerError, match="embedding") as err:
        client.embeddings.create(model="smollm2", input="hi")
    assert "x-fault-proxy" in err.value.response.headers
    assert proxy.log == [Record("/v1/models", "ok", "GET", 200),
                         Record("/v1/completions", "ok", "POST", 200),
                         Record("/v1/embeddings", "ok", "POST", 500)]
    assert proxy.forwarded == 3


@pytest.mark.slow
def test_a_streamed_completion_is_relayed(fault_proxy):
    proxy = fault_proxy()
    stream = sdk(proxy).chat.completions.create(model="smollm2", messages=MESSAGES,
                                                max_tokens=4, stream=True)
    chunks = list(stream)
    assert len(chunks) >= 2
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert proxy.log == [Record(CHAT, "ok", "POST", 200)]


# -- each fault and what the SDK makes of it -----------------------------------------


@pytest.mark.slow
def test_429_is_a_rate_limit_error_with_retry_after(fault_proxy):
    proxy = fault_proxy(script=["429"], retry_after=1)
    with pytest.raises(openai.RateLimitError) as err:
        chat(sdk(proxy))
    exc = err.value
    assert exc.status_code == 429
    assert exc.response.headers["retry-after"] == "1"
    assert exc.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert exc.response.headers["x-ratelimit-reset-requests"] == "1s"
    assert isinstance(exc.body, dict) and exc.body["code"] == "rate_limit_exceeded"
    assert proxy.log == [Record(CHAT, "429", "POST", 429)]
    assert (proxy.forwarded, proxy.injected) == (0, {"429": 1})


@pytest.mark.slow
@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_an_internal_server_error(fault_proxy, status):
    proxy = fault_proxy(script=[str(status)])
    with pytest.raises(openai.InternalServerError) as err:
        chat(sdk(proxy))
    assert err.value.status_code == status
    assert isinstance(err.value.body, dict) and err.value.body["type"] == "server_error"
    assert proxy.log == [Record(CHAT, str(status), "POST", status)]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "cause"), [("drop", httpx2.RemoteProtocolError),
                                             ("reset", httpx2.ReadError)])
def test_a_cut_connection_is_a_connection_error(fault_proxy, kind, cause):
    proxy = fault_proxy(script=[kind])
    with pytest.raises(openai.APIConnectionError) as err:
        chat(sdk(proxy))
    assert not isinstance(err.value, openai.APITimeoutError)
    assert isinstance(err.value.__cause__, cause)
    assert proxy.log == [Record(CHAT, kind, "POST", None)]
    assert proxy.forwarded == 0


@pytest.mark.slow
def test_slow_times_a_short_client_out_and_spares_the_upstream(fault_proxy):
    proxy = fault_proxy(script=["slow"], slow_seconds=0.6)
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(sdk(proxy, timeout=0.2))
    assert time.monotonic() - start < 0.6
    time.sleep(0.7)  # the proxy sees that nobody waits any more: no upstream call
    assert proxy.log == [Record(CHAT, "slow", "POST", None)]
    assert proxy.forwarded == 0


@pytest.mark.slow
def test_slow_answers_a_patient_client_late(fault_proxy):
    proxy = fault_proxy(script=["slow"], slow_seconds=0.3)
    start = time.monotonic()
    assert chat(sdk(proxy)).choices[0].message.content
    assert time.monotonic() - start >= 0.3
    assert proxy.log == [Record(CHAT, "slow", "POST", 200)]


@pytest.mark.slow
def test_garbage_json_escapes_the_sdk_as_a_json_decode_error(fault_proxy):
    # openai 3.x calls response.json() on an application/json body unguarded: what
    # comes out is json.JSONDecodeError, not an openai.OpenAIError, strict or not
    proxy = fault_proxy(script=["garbage", "garbage"])
    for client in (sdk(proxy), sdk(proxy, _strict_response_validation=True)):
        with pytest.raises(json.JSONDecodeError) as err:
            chat(client)
        assert not isinstance(err.value, openai.OpenAIError)
    assert proxy.log == [Record(CHAT, "garbage", "POST", 200)] * 2


@pytest.mark.slow
def test_garbage_html_is_returned_as_text_or_rejected_when_strict(fault_proxy):
    proxy = fault_proxy(script=["garbage", "garbage"], garbage_content_type="text/html")
    # not JSON by its content type: the SDK hands back the text instead of a model
    assert chat(sdk(proxy)) == "<html>oops</html>"
    with pytest.raises(openai.APIResponseValidationError):
        chat(sdk(proxy, _strict_response_validation=True))


@pytest.mark.slow
def test_corrupt_content_replaces_the_assistant_message(fault_proxy):
    proxy = fault_proxy(script=["corrupt-content", "corrupt-content"],
                        corrupt_content="not json at all")
    client = sdk(proxy)
    reply = chat(client)
    assert reply.choices[0].message.content == "not json at all"
    assert reply.usage is not None and reply.usage.completion_tokens > 0  # the rest is real
    done = client.completions.create(model="smollm2", prompt="Hello", max_tokens=3)
    assert done.choices[0].text == "not json at all"
    assert proxy.faults == ["corrupt-content", "corrupt-content"]
    assert proxy.forwarded == 2


# -- schedules and counters --------------------------------------------------------


@pytest.mark.slow
def test_the_sdk_retries_through_a_script(fault_proxy):
    proxy = fault_proxy(script=["429", "500", "ok"], retry_after=0, retry_after_ms=10)
    raw = sdk(proxy, max_retries=2).chat.completions.with_raw_response.create(
        model="smollm2", messages=MESSAGES, max_tokens=4)
    assert raw.parse().choices[0].message.content
    assert raw.retries_taken == 2
    assert proxy.total == 3
    assert proxy.log == [Record(CHAT, "429", "POST", 429), Record(CHAT, "500", "POST", 500),
                         Record(CHAT, "ok", "POST", 200)]
    assert proxy.injected == {"429": 1, "500": 1}
    assert proxy.forwarded == 1


@pytest.mark.slow
def test_seeded_rate_injects_a_deterministic_number_of_faults(fault_proxy):
    kinds = ["429", "500", "503"]
    proxy = fault_proxy(rate=0.2, seed=1, kinds=kinds)
    client = sdk(proxy)

    def twenty() -> list[str]:
        outcomes = []
        for _ in range(20):
            try:
                chat(client, max_tokens=1)
                outcomes.append("ok")
            except openai.APIStatusError as exc:
                outcomes.append(str(exc.status_code))
        return outcomes

    first = twenty()
    rng = random.Random(1)  # the proxy's draw: random() < rate, then choice(kinds)
    expected = [rng.choice(kinds) if rng.random() < 0.2 else "ok" for _ in range(20)]
    assert first == expected == proxy.faults
    assert proxy.injected == {"429": 3, "500": 2}
    assert proxy.forwarded == 15

    proxy.set_schedule(rate=0.2, seed=1, kinds=kinds)  # the same seed, the same faults
    proxy.reset()
    assert twenty() == first
    # beware: seed 0 draws nothing below 0.2 in its first 20 numbers
    proxy.set_schedule(rate=0.2, seed=0, kinds=kinds)
    assert twenty() == ["ok"] * 20


@pytest.mark.slow
def test_only_paths_leaves_other_requests_alone(fault_proxy):
    proxy = fault_proxy(script=["500"], only_paths=[CHAT])
    client = sdk(proxy)
    assert list(client.models.list())  # does not consume the script
    with pytest.raises(openai.InternalServerError):
        chat(client)
    assert proxy.faults == ["ok", "500"]
    assert proxy.total == 2


@pytest.mark.slow
def test_connection_close_by_default_keep_alive_on_request(fault_proxy):
    closing = fault_proxy()
    client = sdk(closing)
    raws = [client.models.with_raw_response.list() for _ in range(3)]
    assert all(r.headers["connection"] == "close" for r in raws)
    assert closing.connections == 3

    pooled = fault_proxy(keep_alive=True, script=["ok", "500", "ok"])
    client = sdk(pooled)
    client.models.list()
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    client.models.list()
    assert pooled.connections == 1  # the SDK's pool reused one connection throughout
    assert pooled.faults == ["ok", "500", "ok"]


# -- bounds: loopback only, clean stop -----------------------------------------------


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080", "http://192.168.1.2",
                                 "http://example.com:80", "https://127.0.0.1:8443",
                                 "http://8.8.8.8/v1"])
def test_refuses_an_upstream_off_loopback(url):
    with pytest.raises(ValueError, match="upstream must be"):
        FaultProxy(url)


def test_accepts_loopback_upstreams():
    for url in ("http://127.0.0.1:9", "http://localhost:9/v1", "http://127.8.9.10:9",
                "http://[::1]:9"):
        FaultProxy(url)


def test_rejects_unknown_kinds_and_rates():
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultProxy("http://127.0.0.1:9", script=["ok", "418"])
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultProxy("http://127.0.0.1:9", rate=0.5, kinds=["timeout"])
    with pytest.raises(ValueError, match="rate"):
        FaultProxy("http://127.0.0.1:9", rate=1.5)
    assert set(KINDS) >= {"429", "500", "503", "drop", "slow", "garbage", "corrupt-content"}


def test_a_dead_upstream_is_a_502():
    with FaultProxy(f"http://127.0.0.1:{free_port()}") as proxy:
        with pytest.raises(openai.InternalServerError) as err:
            sdk(proxy).models.list()
        assert err.value.status_code == 502
        assert proxy.log == [Record("/v1/models", "ok", "GET", 502)]
        assert proxy.forwarded == 0


def test_stops_cleanly_while_busy():
    with FaultProxy(f"http://127.0.0.1:{free_port()}", script=["slow"],
                    slow_seconds=30, keep_alive=True) as proxy:
        port = proxy.port
        # an idle keep-alive connection and a request held by a 30 s slow fault
        idle = socket.create_connection(("127.0.0.1", port))
        outcome: list[BaseException] = []

        def request() -> None:
            try:
                urllib.request.urlopen(proxy.base_url + "/v1/models", timeout=10)
            except OSError as exc:
                outcome.append(exc)

        held = threading.Thread(target=request)
        held.start()
        deadline = time.monotonic() + 5
        while proxy.total < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.faults == ["slow"]
        start = time.monotonic()
    assert time.monotonic() - start < 2  # stop() cut the wait short
    held.join(5)
    assert not held.is_alive()
    assert len(outcome) == 1  # the held request was cut, not answered
    assert idle.recv(1) == b""  # the idle connection was closed
    idle.close()
    assert proxy_threads() == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_fixture_proxies_are_stopped_at_teardown(fault_proxy):
    proxy = fault_proxy(f"http://127.0.0.1:{free_port()}")
    assert proxy.base_url.startswith("http://127.0.0.1:")
    assert proxy_threads()
