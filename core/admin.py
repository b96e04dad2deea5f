"""Admin base classes shared by every app."""

from django.contrib import admin


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
