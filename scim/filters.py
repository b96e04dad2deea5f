"""SCIM `filter=` (RFC 7644 §3.4.2.2) to a Django Q, through scim2-filter-parser's lexer and parser.

Only attributes this service exposes can be filtered on; anything else (an unknown attribute, a
complex value path, a comparison that attribute does not support) is 400 `invalidFilter` —
never silently ignored, which would answer "every user" to a filter it did not understand.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q
from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError

from organizations.models import Membership, TeamMembership
from scim import schemas
from scim.errors import ScimError

MAX_FILTER_LENGTH = 1000
_STRING_OPS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"}
_ORDER_LOOKUPS = {"gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}


def _invalid(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


@dataclass(frozen=True)
class Attribute:
    """How one SCIM attribute is found in the database: the ORM path and the kind of value."""

    lookup: str
    kind: str = "string"  # string | uuid | active | datetime | member
    case_exact: bool = False


USER_ATTRIBUTES = {
    ("username", None): Attribute("user__email"),
    ("emails", None): Attribute("user__email"),
    ("emails", "value"): Attribute("user__email"),
    ("externalid", None): Attribute("scim__external_id", case_exact=True),
    ("id", None): Attribute("id", "uuid"),
    ("active", None): Attribute("status", "active"),
    ("displayname", None): Attribute("display_name"),
    ("title", None): Attribute("title"),
    ("name", "givenname"): Attribute("user__first_name"),
    ("name", "familyname"): Attribute("user__last_name"),
    ("name", "formatted"): Attribute("user__full_name"),
    ("meta", "created"): Attribute("joined_at", "datetime"),
    ("meta", "lastmodified"): Attribute("updated_at", "datetime"),
}

GROUP_ATTRIBUTES = {
    ("displayname", None): Attribute("name"),
    ("externalid", None): Attribute("scim__external_id", case_exact=True),
    ("id", None): Attribute("id", "uuid"),
    ("members", None): Attribute("", "member"),
    ("members", "value"): Attribute("", "member"),
    ("meta", "created"): Attribute("created_at", "datetime"),
    ("meta", "lastmodified"): Attribute("updated_at", "datetime"),
}


def parse(text: str):
    """The filter's syntax tree (400 invalidFilter when it does not parse)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _invalid(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    try:
        return SCIMParser().parse(SCIMLexer().tokenize(text))
    except (SCIMParserError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise _invalid(f"The filter does not parse: {exc}") from None


def user_filter(text: str) -> Q:
    """A Q over memberships for a Users filter."""
    return _Translator(USER_ATTRIBUTES, schemas.USER_SCHEMA).translate(parse(text))


def group_filter(text: str) -> Q:
    """A Q over teams for a Groups filter."""
    return _Translator(GROUP_ATTRIBUTES, schemas.GROUP_SCHEMA).translate(parse(text))


class _Translator:
    def __init__(self, attributes: dict, schema_urn: str):
        self.attributes = attributes
        self.schema_urn = schema_urn.lower()

    def translate(self, node) -> Q:
        if node is None:
            raise _invalid("The filter is empty.")
        return self._node(node, namespace=None)

    def _node(self, node, *, namespace) -> Q:
        if isinstance(node, ast.Filter):
            if node.namespace is not None:
                if namespace is not None:
                    raise _invalid("Nested value filters are not supported.")
                namespace = self._namespace(node.namespace)
            query = self._node(node.expr, namespace=namespace)
            return ~query if node.negated else query
        if isinstance(node, ast.LogExpr):
            left, right = self._node(node.expr1, namespace=namespace), self._node(node.expr2, namespace=namespace)
            return left & right if node.op.lower() == "and" else left | right
        if isinstance(node, ast.AttrExpr):
            return self._comparison(node, namespace=namespace)
        raise _invalid("This filter is not supported.")

    def _namespace(self, path) -> str:
        if not isinstance(path, ast.AttrPath) or not isinstance(path.attr_name, str) or path.sub_attr is not None:
            raise _invalid("This value filter is not supported.")
        self._check_uri(path.uri)
        name = path.attr_name.lower()
        if (name, "value") not in self.attributes:
            raise _invalid(f"Value filters are not supported on '{path.attr_name}'.")
        return name

    def _check_uri(self, uri) -> None:
        if uri and uri.lower() != self.schema_urn:
            raise _invalid(f"Unknown schema in the filter: {uri}.")

    def _attribute(self, path, *, namespace) -> Attribute:
        if not isinstance(path, ast.AttrPath) or not isinstance(path.attr_name, str):
            raise _invalid("Complex attribute paths are not supported.")
        self._check_uri(path.uri)
        name = path.attr_name.lower()
        sub = path.sub_attr.value.lower() if path.sub_attr is not None else None
        key = (namespace, name) if namespace is not None else (name, sub)
        if namespace is not None and sub is not None:
            raise _invalid("Complex attribute paths are not supported.")
        attribute = self.attributes.get(key)
        if attribute is None:
            shown = f"{namespace}[{path.attr_name}]" if namespace else path.attr_name + (f".{path.sub_attr.value}" if sub else "")
            raise _invalid(f"Filtering on '{shown}' is not supported.")
        return attribute

    def _comparison(self, node, *, namespace) -> Q:
        attribute = self._attribute(node.attr_path, namespace=namespace)
        op = node.value.lower()
        value = node.comp_value.value if node.comp_value is not None else None
        if op not in _STRING_OPS:
            raise _invalid(f"Unknown operator '{node.value}'.")
        builder = getattr(self, f"_{attribute.kind}")
        return builder(attribute, op, value)

    # -- one builder per kind of value ---------------------------------------------------------

    def _string(self, attribute: Attribute, op: str, value) -> Q:
        path = attribute.lookup
        if op == "pr":
            return Q(**{f"{path}__isnull": False}) & ~Q(**{path: ""})
        if value is None:
            raise _invalid(f"'{op}' needs a value.")
        value = str(value)
        if op in _ORDER_LOOKUPS:
            return Q(**{f"{path}__{_ORDER_LOOKUPS[op]}": value})
        prefix = "" if attribute.case_exact else "i"
        lookup = {"eq": f"{prefix}exact", "ne": f"{prefix}exact", "co": f"{prefix}contains", "sw": f"{prefix}startswith", "ew": f"{prefix}endswith"}[op]
        query = Q(**{f"{path}__{lookup}": value})
        return ~query if op == "ne" else query

    def _uuid(self, attribute: Attribute, op: str, value) -> Q:
        if op == "pr":
            return Q()
        if op not in ("eq", "ne"):
            raise _invalid(f"'id' supports eq, ne and pr, not '{op}'.")
        try:
            parsed = uuid.UUID(str(value))
        except (TypeError, ValueError):
            # Not one of our ids: nothing has it.
            return Q(pk__in=[]) if op == "eq" else Q()
        query = Q(**{attribute.lookup: parsed})
        return ~query if op == "ne" else query

    def _active(self, attribute: Attribute, op: str, value) -> Q:
        if op == "pr":
            return Q()
        wanted = str(value).lower()
        if op not in ("eq", "ne") or wanted not in ("true", "false"):
            raise _invalid("'active' compares with eq or ne to true or false.")
        query = Q(**{attribute.lookup: Membership.Status.ACTIVE})
        if wanted == "false":
            query = ~query
        return ~query if op == "ne" else query

    def _datetime(self, attribute: Attribute, op: str, value) -> Q:
        if op == "pr":
            return Q()
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(f"'{value}' is not a date-time (RFC 3339).") from None
        if op in _ORDER_LOOKUPS:
            return Q(**{f"{attribute.lookup}__{_ORDER_LOOKUPS[op]}": moment})
        if op in ("eq", "ne"):
            query = Q(**{attribute.lookup: moment})
            return ~query if op == "ne" else query
        raise _invalid(f"Dates support eq, ne, gt, ge, lt, le and pr, not '{op}'.")

    def _member(self, attribute: Attribute, op: str, value) -> Q:
        if op == "pr":
            return Q(Exists(TeamMembership.objects.filter(team=OuterRef("pk"))))
        if op != "eq":
            raise _invalid("'members' supports eq and pr.")
        try:
            membership_id = uuid.UUID(str(value))
        except (TypeError, ValueError):
            return Q(pk__in=[])
        # A member is a membership of the team's own org whose user is on the team.
        on_team = Membership.objects.filter(id=membership_id, organization_id=OuterRef("organization_id"), user__team_memberships__team=OuterRef("pk"))
        return Q(Exists(on_team))
