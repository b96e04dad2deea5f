"""SCIM representations of members (Users) and teams (Groups), and `attributes`/`excludedAttributes` projection."""

from organizations.models import Membership, Team
from scim import schemas

# Returned whatever the projection asks (RFC 7643 §7 "returned: always").
_ALWAYS = {"id", "schemas", "meta"}


def _timestamp(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def user_resource(membership: Membership, *, base: str) -> dict:
    """A member as a SCIM User: its id is the membership's, userName the account's e-mail."""
    user = membership.user
    scim = getattr(membership, "scim", None) if _has_related(membership, "scim") else None
    location = f"{base}/Users/{membership.id}"
    resource = {
        "schemas": [schemas.USER_SCHEMA],
        "id": str(membership.id),
        "userName": user.email,
        "name": {"formatted": user.full_name, "givenName": user.first_name, "familyName": user.last_name},
        "displayName": membership.display_name or user.full_name or user.email,
        "title": membership.title,
        "active": membership.status == Membership.Status.ACTIVE,
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "meta": {
            "resourceType": "User",
            "created": _timestamp(membership.joined_at),
            "lastModified": _timestamp(membership.updated_at),
            "location": location,
        },
    }
    if scim is not None and scim.external_id:
        resource["externalId"] = scim.external_id
    teams = getattr(user, "org_team_memberships", None)
    if teams is not None:
        resource["groups"] = [{"value": str(row.team_id), "$ref": f"{base}/Groups/{row.team_id}", "display": row.team.name} for row in teams]
    return resource


def group_resource(team: Team, *, base: str) -> dict:
    """A team as a SCIM Group: members are SCIM User ids (memberships) of the same org."""
    scim = getattr(team, "scim", None) if _has_related(team, "scim") else None
    resource = {
        "schemas": [schemas.GROUP_SCHEMA],
        "id": str(team.id),
        "displayName": team.name,
        "meta": {
            "resourceType": "Group",
            "created": _timestamp(team.created_at),
            "lastModified": _timestamp(team.updated_at),
            "location": f"{base}/Groups/{team.id}",
        },
    }
    if scim is not None and scim.external_id:
        resource["externalId"] = scim.external_id
    members = getattr(team, "scim_members", None)
    if members is not None:
        resource["members"] = [
            {"value": str(row.membership_id), "$ref": f"{base}/Users/{row.membership_id}", "display": row.user.email, "type": "User"}
            for row in members
            if row.membership_id is not None
        ]
    return resource


def _has_related(instance, name: str) -> bool:
    # A reverse one-to-one without a row raises on access; select_related caches the None.
    try:
        getattr(instance, name)
    except type(instance).scim.RelatedObjectDoesNotExist:
        return False
    return True


def project(resource: dict, *, attributes: list[str], excluded: list[str]) -> dict:
    """Keep only `attributes` (top level, case-insensitive) or drop `excluded`; id, schemas and meta always stay."""
    if attributes:
        wanted = {name.split(".", 1)[0].split(":")[-1].lower() for name in attributes} | _ALWAYS
        return {key: value for key, value in resource.items() if key.lower() in wanted}
    if excluded:
        dropped = {name.split(".", 1)[0].split(":")[-1].lower() for name in excluded} - _ALWAYS
        return {key: value for key, value in resource.items() if key.lower() not in dropped}
    return resource
