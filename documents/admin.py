"""Staff admin of documents: metadata only, read-only; the files themselves are never served here."""

from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from core.admin import ReadOnlyAdmin
from documents.models import Document


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ("title", "organization", "content_type", "file_size", "created_at")
    list_filter = ("content_type",)
    search_fields = ("title", "filename", "organization__name")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"
    # `file` (the storage path) is left out: the members' content is not staff's to open.
    fields = ("id", "organization", "title", "description", "filename", "content_type", "file_size", "uploaded_by", "created_at")
    readonly_fields = ("file_size",)

    @admin.display(description="Size", ordering="size")
    def file_size(self, document: Document) -> str:
        return filesizeformat(document.size)
