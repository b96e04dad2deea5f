"""Service helpers shared by every app."""

from typing import Any

from django.db import models


def model_update(*, instance: models.Model, fields: list[str], data: dict[str, Any]) -> tuple[models.Model, dict]:
    """Set the given fields that changed and save only those; return (instance, {field: [old, new]})."""
    changes: dict[str, list] = {}
    for field in fields:
        if field not in data:
            continue
        old = getattr(instance, field)
        new = data[field]
        if old != new:
            changes[field] = [old, new]
            setattr(instance, field, new)
    if changes:
        update_fields = list(changes)
        if any(f.name == "updated_at" for f in instance._meta.get_fields()):
            update_fields.append("updated_at")
        instance.full_clean(exclude=[f.name for f in instance._meta.fields if f.name not in changes])
        instance.save(update_fields=update_fields)
    return instance, changes
