"""The signing examples of docs/internal-api.md produce signatures the API accepts."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from internal.tests.conftest import SECRET, SERVICE

DOC = Path(settings.BASE_DIR) / "docs" / "internal-api.md"


def example(marker: str) -> str:
    """The first code block after `<!-- example:<marker> -->` in the doc."""
    match = re.search(rf"<!-- example:{marker} -->\s*```\w+\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"no {marker} example in {DOC.name}"
    return match.group(1)


def test_the_python_example_signs_a_valid_request(signed, org_factory):
    # given: the doc's function
    namespace: dict = {}
    exec(example("python"), namespace)  # noqa: S102  (our own documentation)
    organization, _ = org_factory()
    path = f"/internal/v1/orgs/{organization.id}/usage"
    body = json.dumps({"feature": "ai_requests", "quantity": 2, "idempotency_key": "doc-py"}).encode()

    # when
    headers = namespace["signed_headers"](service=SERVICE, secret=SECRET, method="POST", path=path, body=body)
    response = signed.client.generic(
        "POST",
        path,
        body,
        content_type="application/json",
        HTTP_X_SERVICE_NAME=headers["X-Service-Name"],
        HTTP_X_SERVICE_SIGNATURE=headers["X-Service-Signature"],
    )

    # then
    assert response.status_code == 200, response.content
    assert response.json()["used"] == 2


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("bash") is None, reason="needs openssl and bash")
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_the_shell_example_signs_a_valid_request(signed, org_factory, method):
    # given: the doc's `sign` function, run by bash with openssl
    organization, _ = org_factory()
    if method == "POST":
        path = f"/internal/v1/orgs/{organization.id}/usage"
        body = '{"feature": "ai_requests", "quantity": 1, "idempotency_key": "doc-sh"}'
    else:
        path, body = f"/internal/v1/orgs/{organization.id}", ""
    script = example("shell") + '\nsign "$1" "$2" "$3"\n'

    # when
    header = subprocess.run(
        ["bash", "-c", script, "sign", method, path, body],
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "INTERNAL_SECRET": SECRET},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    response = signed.client.generic(method, path, body.encode(), content_type="application/json", HTTP_X_SERVICE_NAME=SERVICE, HTTP_X_SERVICE_SIGNATURE=header)

    # then
    assert re.fullmatch(r"\d+:[0-9a-f]{64}", header), header
    assert response.status_code == 200, response.content
