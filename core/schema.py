"""OpenAPI schema plumbing: blank-able URLs, the org headers, readable summaries, and the error responses every API operation can give."""

import re

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from core.errors import ErrorCode


class BlankableURLFieldExtension(OpenApiSerializerFieldExtension):
    """A URL field that may hold "" (blank model URLs, read-only or `allow_blank`): say so."""

    target_class = "rest_framework.fields.URLField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        url = build_basic_type(OpenApiTypes.URI)
        if not (self.target.allow_blank or self.target.read_only):
            return url
        # A bare `format: uri` refuses "", which such fields do return (a blank model URLField
        # loses `allow_blank` when DRF makes it read-only, so read-only ones count too).
        return {"anyOf": [url, {"type": "string", "maxLength": 0}]}


class BlankableEmailFieldExtension(OpenApiSerializerFieldExtension):
    """An e-mail field that may hold "" (a blank model EmailField, e.g. an org's contact e-mail): say so."""

    target_class = "rest_framework.fields.EmailField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        email = build_basic_type(OpenApiTypes.EMAIL)
        if not (self.target.allow_blank or (self.target.read_only and _model_field_blank(self.target))):
            return email
        return {"anyOf": [email, {"type": "string", "maxLength": 0}]}


def _model_field_blank(field) -> bool:
    """Whether the model field behind a read-only serializer field allows "" (DRF drops `allow_blank` then)."""
    parent = getattr(field, "parent", None)
    model = getattr(getattr(parent, "Meta", None), "model", None)
    if model is None:
        return False
    try:
        return model._meta.get_field(field.source).blank
    except FieldDoesNotExist:  # a dotted source, or no such model field: assume the strict format
        return False


# The org context headers of routes not under /orgs/{org_id}/ (billing, integrations, chats, ai).
# Views never list it: OrgAutoSchema adds it to every org-scoped operation that needs it.
ORG_HEADER = [
    OpenApiParameter(
        "X-Org-ID",
        OpenApiTypes.UUID,
        OpenApiParameter.HEADER,
        required=False,
        description="Organization to act in; default: the access token's active org (`org_id`)",
    ),
    OpenApiParameter(
        "X-Current-Org",
        OpenApiTypes.UUID,
        OpenApiParameter.HEADER,
        required=False,
        description="Alias of `X-Org-ID`; sending both with different values → 400 VALIDATION_ERROR",
    ),
]


class OrgAutoSchema(AutoSchema):
    """The project's schema class (DEFAULT_SCHEMA_CLASS): documents X-Org-ID where the org comes from it.

    An org-scoped view (`org_scoped = True`, set by permissions.drf.OrgScopedMixin) whose path
    has no `{org_id}` resolves its org from the X-Org-ID header or the token: every operation of
    it gets ORG_HEADER. Parameters from `@extend_schema` come after, so a view may still override it.
    """

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if getattr(self.view, "org_scoped", False) and "{org_id}" not in self.path:
            return [*ORG_HEADER, *parameters]
        return parameters

    def get_summary(self):
        """`extend_schema(summary=...)` when given, else the first sentence of the view's docstring."""
        return super().get_summary() or summary_from(self.get_description(), self.get_operation_id())


SUMMARY_MAX_CHARS = 80
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def summary_from(description: str | None, operation_id: str) -> str:
    """A one-line operation summary: the docstring's first sentence (shortened), else the operation id in words."""
    paragraph = (description or "").strip().split("\n\n")[0]
    sentence = _SENTENCE_END.split(" ".join(paragraph.split()), maxsplit=1)[0].rstrip(".:")
    if not sentence:
        return operation_id.replace("_", " ").capitalize()
    if len(sentence) > SUMMARY_MAX_CHARS:
        # Cut before a parenthesis or clause when one leaves enough, else at a word.
        for mark in (" (", "; ", ": ", ", "):
            head = sentence.split(mark)[0]
            if 20 <= len(head) <= SUMMARY_MAX_CHARS:
                return head
        sentence = sentence[: SUMMARY_MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return sentence


# What an error status means on any endpoint; an app words a status its own way only where it says more.
ERROR_RESPONSES: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "AUTHENTICATION_FAILED / TOKEN_INVALID / TOKEN_EXPIRED",
    403: "INSUFFICIENT_PERMISSIONS / INVALID_ORG_CONTEXT",
    404: "ORG_NOT_FOUND / NOT_FOUND",
    429: "RATE_LIMIT_EXCEEDED",
}


def errors(*statuses: int, wording: dict[int, str] | None = None) -> dict[int, OpenApiResponse]:
    """Describe error `statuses` for `extend_schema(responses=...)`: the shared wording, or the app's in `wording`."""
    descriptions = {**ERROR_RESPONSES, **(wording or {})}
    return {status: OpenApiResponse(description=descriptions[status]) for status in statuses}


ERROR_COMPONENT = "ErrorEnvelope"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
_ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error envelope of the API (DRF validation, 404, throttling, 5xx alike).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "enum": [code.value for code in ErrorCode]},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": {}},
                "request_id": {"type": "string"},
            },
            "required": ["code", "message", "details", "request_id"],
        }
    },
    "required": ["error"],
}
# The JSON APIs (the public one and the signed internal one); health probes answer their own bodies.
_API_PREFIXES = ("/api/", "/internal/")
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _generic_errors(path: str, operation: dict) -> dict[str, str]:
    """Map the status codes any operation of this shape can answer to their error codes."""
    errors = {}
    if path.startswith(_API_PREFIXES):
        # Every DRF view runs the user/anon throttles.
        errors["429"] = ERROR_RESPONSES[429]
        # Any request may carry a malformed, expired or revoked token: authentication runs first.
        errors["401"] = ERROR_RESPONSES[401]
    if operation.get("parameters") or operation.get("requestBody"):
        errors["400"] = ERROR_RESPONSES[400]
    if "{" in path:
        errors["404"] = ErrorCode.NOT_FOUND
    if any(parameter.get("name") == "page" and parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
        errors["404"] = f"{ErrorCode.NOT_FOUND} (also: a page past the last one)"
    return errors


def postprocess_error_responses(result, generator, request, public):
    """Add the error envelope schema to every 4xx/5xx response and the generic error statuses."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = _ERROR_SCHEMA
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _generic_errors(path, operation).items():
                responses.setdefault(status, {"description": str(description)})
            if not path.startswith(_API_PREFIXES):
                continue  # health probes answer their own bodies
            for status, response in responses.items():
                if str(status)[0] in "45" and "content" not in response and "$ref" not in response:
                    response["content"] = {"application/json": {"schema": _ERROR_REF}}
    return result
