"""The OpenAI-compatible provider against the fake server, without Django's request cycle."""

import pytest

from ai import providers
from ai.providers import OpenAICompatibleProvider, ProviderError, ProviderNotConfigured, ProviderTimeout
from ai.tests import fake_openai as fake

MESSAGES = [{"role": "user", "content": "hi there"}]


def test_complete_returns_the_reply_and_sends_no_auth_header_without_a_key(fake_openai):
    provider = OpenAICompatibleProvider(base_url=fake_openai.url + "/", api_key="")

    completion = provider.complete(model="m", messages=MESSAGES)

    assert completion.content == "You said: hi there"
    assert completion.model == "m"
    assert "Authorization" not in fake_openai.requests[-1]["headers"]
    assert fake_openai.requests[-1]["path"] == "/v1/chat/completions"


def test_stream_yields_text_pieces_only(fake_openai):
    provider = OpenAICompatibleProvider(base_url=fake_openai.url, api_key="k")

    reply = provider.stream(model="m", messages=MESSAGES)
    pieces = list(reply)

    # role-only, finish and usage-only chunks carry no text; the keep-alive comment is skipped
    assert pieces == ["You ", "said: ", "hi ", "there"]
    assert reply.closed


def test_stream_joins_multi_line_data_and_accepts_a_final_event_without_blank_line():
    class Response:
        def iter_lines(self):
            yield 'data: {"choices": [{"delta":'
            yield 'data: {"content": "multi"}}]}'
            yield ""
            yield "event: ignored"
            yield 'data: {"choices": [{"delta": {"content": "!"}, "finish_reason": "stop"}]}'

        def close(self):
            pass

    class Client:
        def close(self):
            pass

    reply = providers.SSEReplyStream(provider=OpenAICompatibleProvider(base_url="http://x"), client=Client(), response=Response())

    assert list(reply) == ["multi", "!"]


def test_stream_error_statuses_and_timeouts_raise_before_iteration(fake_openai):
    provider = OpenAICompatibleProvider(base_url=fake_openai.url, api_key="k", timeout=0.3)
    fake_openai.mode, fake_openai.status = fake.STATUS, 404
    with pytest.raises(ProviderError) as error:
        provider.stream(model="m", messages=MESSAGES)
    assert error.value.status == 404

    fake_openai.mode = fake.SILENT
    with pytest.raises(ProviderTimeout):
        provider.stream(model="m", messages=MESSAGES)


def test_settings_default_model_is_always_allowed_and_the_key_never_shows(settings):
    settings.AI_BASE_URL = "http://127.0.0.1:9/v1/"
    settings.AI_API_KEY = "sk-very-secret"
    settings.AI_MODEL = "main"
    settings.AI_MODELS = ["other", " "]

    config = providers.ai_settings()

    assert config.base_url == "http://127.0.0.1:9/v1"
    assert config.models == ("main", "other")
    assert "sk-very-secret" not in repr(config)
    assert "sk-very-secret" not in repr(providers.provider_get(config))


def test_no_base_url_or_no_model_is_not_configured(settings):
    settings.AI_BASE_URL, settings.AI_MODEL, settings.AI_MODELS = "http://x/v1", "", []
    with pytest.raises(ProviderNotConfigured):
        providers.provider_get()

    settings.AI_BASE_URL, settings.AI_MODEL = "", "m"
    with pytest.raises(ProviderNotConfigured):
        providers.provider_get()
