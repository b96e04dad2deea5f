"""The SCIM discovery documents (RFC 7643 §5-7, RFC 7644 §4): what this service provider supports."""

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

MAX_RESULTS = 200
DEFAULT_COUNT = 100


def _attr(name: str, *, type: str = "string", multi: bool = False, required: bool = False, case_exact: bool = False,
          mutability: str = "readWrite", returned: str = "default", uniqueness: str = "none", description: str = "", sub=None) -> dict:  # fmt: skip
    attribute = {
        "name": name,
        "type": type,
        "multiValued": multi,
        "description": description,
        "required": required,
        "caseExact": case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    }
    if sub is not None:
        attribute["subAttributes"] = sub
    return attribute


USER_ATTRIBUTES = [
    _attr(
        "userName", required=True, uniqueness="server", mutability="immutable", description="The member's e-mail address; changes only on the account itself."
    ),
    _attr(
        "name",
        type="complex",
        description="The member's name (kept by the IdP only for accounts this organization's SCIM created).",
        sub=[_attr("formatted", mutability="readOnly"), _attr("givenName"), _attr("familyName")],
    ),
    _attr("displayName", description="The member's display name in this organization."),
    _attr("title", description="The member's title in this organization."),
    _attr("active", type="boolean", description="false suspends the membership, true reactivates it."),
    _attr(
        "emails",
        type="complex",
        multi=True,
        mutability="immutable",
        description="The one address of the account (the userName).",
        sub=[_attr("value"), _attr("type"), _attr("primary", type="boolean")],
    ),
    _attr(
        "groups",
        type="complex",
        multi=True,
        mutability="readOnly",
        description="The teams of the organization the member is on.",
        sub=[_attr("value", mutability="readOnly"), _attr("$ref", type="reference", mutability="readOnly"), _attr("display", mutability="readOnly")],
    ),
]

GROUP_ATTRIBUTES = [
    _attr("displayName", required=True, uniqueness="server", description="The team's name (unique in the organization, case-insensitively)."),
    _attr(
        "members",
        type="complex",
        multi=True,
        description="Members of the team: SCIM User ids of this organization.",
        sub=[_attr("value", mutability="immutable"), _attr("$ref", type="reference", mutability="immutable"), _attr("display", mutability="readOnly")],
    ),
]


def _location(base: str, path: str) -> dict:
    return {"location": f"{base}/{path}"}


def service_provider_config(base: str) -> dict:
    return {
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The organization's SCIM token, in `Authorization: Bearer <token>`.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", **_location(base, "ServiceProviderConfig")},
    }


def resource_types(base: str) -> list[dict]:
    return [
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A member of the organization",
            "schema": USER_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", **_location(base, "ResourceTypes/User")},
        },
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A team of the organization",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", **_location(base, "ResourceTypes/Group")},
        },
    ]


def schemas(base: str) -> list[dict]:
    return [
        {
            "schemas": [SCHEMA_SCHEMA],
            "id": USER_SCHEMA,
            "name": "User",
            "description": "A member of the organization",
            "attributes": USER_ATTRIBUTES,
            "meta": {"resourceType": "Schema", **_location(base, f"Schemas/{USER_SCHEMA}")},
        },
        {
            "schemas": [SCHEMA_SCHEMA],
            "id": GROUP_SCHEMA,
            "name": "Group",
            "description": "A team of the organization",
            "attributes": GROUP_ATTRIBUTES,
            "meta": {"resourceType": "Schema", **_location(base, f"Schemas/{GROUP_SCHEMA}")},
        },
    ]
