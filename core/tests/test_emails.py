"""email_send: one template set, a subject header that stays one line."""

import pytest
from django.core import mail

from core.emails import email_send

TEMPLATES = {
    "t/hello.subject.txt": "{% autoescape off %}Hello {{ name }}{% endautoescape %}\n",
    "t/hello.txt": "Hi {{ name }}, see {{ frontend_url }}",
    "t/hello.html": "<p>Hi {{ name }}</p>",
}


@pytest.fixture
def templates(settings):
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", TEMPLATES)]},
        }
    ]


def test_email_send_renders_the_three_templates(templates, settings):
    # when
    email_send(to="ada@example.com", template="t/hello", context={"name": "Ada"})

    # then
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "Hello Ada"
    assert message.body == f"Hi Ada, see {settings.FRONTEND_URL}"
    assert message.alternatives[0] == ("<p>Hi Ada</p>", "text/html")


def test_a_line_break_in_a_subject_is_folded(templates):
    # given: a user-typed name trying to start a header of its own
    name = "Ada\r\nBcc: victim@example.com\n\tx"

    # when
    email_send(to="ada@example.com", template="t/hello", context={"name": name})

    # then
    assert mail.outbox[0].subject == "Hello Ada Bcc: victim@example.com x"
