"""Admin base classes shared by every app."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db import transaction

from core.exceptions import ApplicationError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse only: rows change through services (with audit events), never by hand; actions may call services."""

    def get_readonly_fields(self, request, obj=None):
        # A view-only page lists the form's fields; naming every column shows the non-editable
        # ones too (ids, timestamps, the audit chain's hashes). `fields` still limits what is shown.
        names = [field.name for field in self.model._meta.fields]
        return [*self.readonly_fields, *(name for name in names if name not in self.readonly_fields)]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Related rows shown on a ReadOnlyAdmin page, never added, changed or deleted there."""

    extra = 0
    can_delete = False
    # Foreign keys each row shows, fetched with the rows (one query for the inline).
    select_related: tuple[str, ...] = ()

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.select_related)


def apply_each(model_admin: admin.ModelAdmin, request, queryset, action: Callable[[Any], object], *, done: str, label=str) -> int:
    """Call a service on each selected row; a refusal becomes an error message naming the row, not a 500.

    `done` is the success message, with `{count}`; returns how many rows the service accepted.
    """
    accepted = 0
    for obj in queryset:
        try:
            # A savepoint per row: one refusal must not undo the rows already changed.
            with transaction.atomic():
                action(obj)
        except ApplicationError as error:
            model_admin.message_user(request, f"{label(obj)}: {error.message}", messages.ERROR)
        else:
            accepted += 1
    if accepted:
        model_admin.message_user(request, done.format(count=accepted), messages.SUCCESS)
    return accepted
