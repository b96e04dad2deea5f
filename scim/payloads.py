"""Read SCIM request bodies (POST/PUT resources, PATCH operations) into the changes they ask for.

PATCH is read as Okta and Entra ID send it: ops in any case (`replace`, `Replace`), booleans as
JSON or as strings (`"False"`), a value object without a path, dotted paths (`name.givenName`),
value-filter paths (`members[value eq "…"]`, `emails[type eq "work"].value`). Attributes this
service does not keep (phone numbers, addresses, the enterprise extension, …) are accepted and
not stored (RFC 7644 §3.3 lets a service provider do so); those it keeps are checked strictly.
"""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from scim import schemas
from scim.errors import ScimError, bad_request

UNSET = object()
_MEMBER_PATH_RE = re.compile(r'^members\[\s*value\s+eq\s+"([^"]{1,64})"\s*\]$', re.IGNORECASE)
_OPS = {"add", "replace", "remove"}
MAX_OPERATIONS = 1000
MAX_MEMBERS = 1000
_LIMITS = {"externalId": 255, "displayName": 100, "title": 100, "givenName": 150, "familyName": 150}


def _syntax(detail: str) -> ScimError:
    return bad_request(detail, "invalidSyntax")


def _require_object(body) -> dict:
    if not isinstance(body, dict):
        raise _syntax("The body must be a JSON object.")
    return body


def _require_schema(body: dict, schema: str) -> None:
    listed = body.get("schemas")
    if not isinstance(listed, list) or schema.lower() not in {str(item).lower() for item in listed}:
        raise _syntax(f"'schemas' must list {schema}.")


def _string(value, name: str, *, allow_empty: bool = True) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string.")
    value = value.strip()
    limit = _LIMITS.get(name)
    if limit is not None and len(value) > limit:
        raise bad_request(f"'{name}' is longer than {limit} characters.")
    if not allow_empty and not value:
        raise bad_request(f"'{name}' may not be empty.")
    return value


def boolean(value, name: str = "active") -> bool:
    """A SCIM boolean: true/false, or the strings Entra ID sends ("True", "False")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(f"'{name}' must be true or false.")


def email(value) -> str:
    """A userName: an e-mail address, lower-cased."""
    value = _string(value, "userName", allow_empty=False).lower()
    try:
        validate_email(value)
    except ValidationError:
        raise bad_request("'userName' must be an e-mail address.") from None
    if len(value) > 254:
        raise bad_request("'userName' is longer than 254 characters.")
    return value


# --- users --------------------------------------------------------------------------------------


@dataclass
class UserChanges:
    """What a request asks of a member; UNSET = leave as it is."""

    user_name: object = UNSET
    external_id: object = UNSET
    active: object = UNSET
    display_name: object = UNSET
    title: object = UNSET
    given_name: object = UNSET
    family_name: object = UNSET

    def names(self) -> dict:
        return {key: value for key, value in (("first_name", self.given_name), ("last_name", self.family_name)) if value is not UNSET}

    def profile(self) -> dict:
        return {key: value for key, value in (("display_name", self.display_name), ("title", self.title)) if value is not UNSET}


def _user_name_part(changes: UserChanges, key: str, value) -> None:
    key = key.lower()
    if key == "givenname":
        changes.given_name = _string(value, "givenName")
    elif key == "familyname":
        changes.family_name = _string(value, "familyName")
    # name.formatted, middleName, honorific…: derived or not kept.


def _user_attribute(changes: UserChanges, name: str, value) -> None:
    """Apply one top-level attribute (add/replace semantics) to `changes`."""
    key = name.split(":")[-1] if name.lower().startswith(schemas.USER_SCHEMA.lower() + ":") else name
    lowered = key.lower()
    if lowered == "username":
        changes.user_name = email(value)
    elif lowered == "externalid":
        changes.external_id = _string(value, "externalId")
    elif lowered == "active":
        changes.active = boolean(value)
    elif lowered == "displayname":
        changes.display_name = _string(value, "displayName")
    elif lowered == "title":
        changes.title = _string(value, "title")
    elif lowered == "name":
        if value is None:
            changes.given_name = changes.family_name = ""
            return
        if not isinstance(value, dict):
            raise bad_request("'name' must be an object.")
        for part, part_value in value.items():
            _user_name_part(changes, part, part_value)
    elif lowered.startswith("name."):
        _user_name_part(changes, lowered.split(".", 1)[1], value)
    # Everything else (emails, phoneNumbers, addresses, locale, extensions…) is not kept here:
    # the account's one address is its userName and changes only on the account itself.


def user_from_resource(body, *, creating: bool) -> UserChanges:
    """Read a POST or PUT User body; PUT is a replacement, so what it leaves out is cleared."""
    body = _require_object(body)
    _require_schema(body, schemas.USER_SCHEMA)
    if not any(str(key).lower() == "username" for key in body):
        raise bad_request("'userName' is required.")
    changes = UserChanges(external_id="", display_name="", title="") if not creating else UserChanges()
    if creating:
        changes.active = True
    for name, value in body.items():
        if name in ("schemas", "id", "meta", "groups"):
            continue  # read-only: ignored on input (RFC 7643 §2.2 "readOnly")
        _user_attribute(changes, name, value)
    return changes


def _operations(body) -> list[dict]:
    body = _require_object(body)
    _require_schema(body, schemas.PATCH_OP)
    operations = body.get("Operations", body.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise _syntax("'Operations' must be a non-empty list.")
    if len(operations) > MAX_OPERATIONS:
        raise bad_request(f"At most {MAX_OPERATIONS} operations per request.", "tooMany")
    for operation in operations:
        if not isinstance(operation, dict):
            raise _syntax("Each operation must be an object.")
        if str(operation.get("op", "")).lower() not in _OPS:
            raise _syntax(f"Unknown operation '{operation.get('op')}': use add, replace or remove.")
        path = operation.get("path")
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise bad_request("'path' must be a non-empty string.", "invalidPath")
    return operations


def user_from_patch(body) -> UserChanges:
    """Read a PATCH of a User into the changes it asks for."""
    changes = UserChanges()
    for operation in _operations(body):
        op, path, value = operation["op"].lower(), operation.get("path"), operation.get("value")
        if op == "remove":
            if path is None:
                raise bad_request("'remove' needs a path.", "noTarget")
            lowered = path.strip().lower()
            if lowered in ("active", "username"):
                raise bad_request(f"'{path}' cannot be removed.", "mutability")
            _user_attribute(changes, path.strip(), None)
            continue
        if path is None:
            if not isinstance(value, dict):
                raise bad_request("An operation without a path needs an object value.", "invalidValue")
            for name, item in value.items():
                _user_attribute(changes, name, item)
        else:
            _user_attribute(changes, path.strip(), value)
    return changes


# --- groups -------------------------------------------------------------------------------------


@dataclass
class GroupChanges:
    """What a request asks of a team; members as SCIM User ids."""

    display_name: object = UNSET
    external_id: object = UNSET
    members_set: object = UNSET  # a full replacement (list of ids), or UNSET
    members_add: list[str] = field(default_factory=list)
    members_remove: list[str] = field(default_factory=list)
    remove_all: bool = False


def _member_ids(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise bad_request("'members' must be a list of {\"value\": id}.")
    if len(value) > MAX_MEMBERS:
        raise bad_request(f"At most {MAX_MEMBERS} members per request.", "tooMany")
    ids = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"].strip():
            raise bad_request('Each member must be {"value": "<User id>"}.')
        ids.append(item["value"].strip())
    return ids


def _group_attribute(changes: GroupChanges, name: str, value) -> None:
    key = name.split(":")[-1] if name.lower().startswith(schemas.GROUP_SCHEMA.lower() + ":") else name
    lowered = key.lower()
    if lowered == "displayname":
        changes.display_name = _string(value, "displayName", allow_empty=False)
    elif lowered == "externalid":
        changes.external_id = _string(value, "externalId")
    elif lowered == "members":
        changes.members_set = _member_ids(value)
        changes.members_add, changes.members_remove, changes.remove_all = [], [], False
    # id, meta, schemas and anything unknown: not kept.


def group_from_resource(body, *, creating: bool) -> GroupChanges:
    """Read a POST or PUT Group body; PUT replaces, so members left out are taken off."""
    body = _require_object(body)
    _require_schema(body, schemas.GROUP_SCHEMA)
    if not any(str(key).lower() == "displayname" for key in body):
        raise bad_request("'displayName' is required.")
    changes = GroupChanges(external_id="" if not creating else UNSET, members_set=[])
    for name, value in body.items():
        if name in ("schemas", "id", "meta"):
            continue
        _group_attribute(changes, name, value)
    return changes


def group_from_patch(body) -> GroupChanges:
    """Read a PATCH of a Group (rename, externalId, members add/remove/replace)."""
    changes = GroupChanges()
    for operation in _operations(body):
        op, path, value = operation["op"].lower(), operation.get("path"), operation.get("value")
        path = path.strip() if isinstance(path, str) else None
        member = _MEMBER_PATH_RE.match(path) if path else None
        if member is not None:
            if op != "remove":
                raise bad_request("Use 'add' with path 'members' to add members.", "invalidPath")
            changes.members_remove.append(member.group(1))
            continue
        if path is not None and path.lower() == "members":
            ids = _member_ids(value)
            if op == "add":
                changes.members_add.extend(ids)
            elif op == "remove":
                if value is None:
                    changes.members_set, changes.members_add, changes.members_remove = [], [], []
                else:
                    changes.members_remove.extend(ids)
            else:
                _group_attribute(changes, "members", value)
            continue
        if op == "remove":
            if path is None:
                raise bad_request("'remove' needs a path.", "noTarget")
            if path.lower() == "displayname":
                raise bad_request("'displayName' cannot be removed.", "mutability")
            _group_attribute(changes, path, None)
            continue
        if path is None:
            if not isinstance(value, dict):
                raise bad_request("An operation without a path needs an object value.")
            for name, item in value.items():
                if str(name).lower() == "members" and op == "add":
                    changes.members_add.extend(_member_ids(item))
                else:
                    _group_attribute(changes, name, item)
        else:
            if "[" in path or "." in path.split(":")[-1]:
                raise bad_request(f"Unsupported path '{path}'.", "invalidPath")
            _group_attribute(changes, path, value)
    return changes
