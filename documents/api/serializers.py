"""Shapes of the documents API."""

from rest_framework import serializers

from core.serializers import ModelSerializer, Serializer
from documents.models import Document


class DocumentSerializer(ModelSerializer):
    uploaded_by = serializers.UUIDField(source="uploaded_by_id", allow_null=True, read_only=True)

    class Meta:
        model = Document
        fields = ["id", "title", "description", "filename", "content_type", "size", "uploaded_by", "created_at"]
        read_only_fields = fields


class DocumentUploadSerializer(Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class DocumentPageSerializer(Serializer):
    data = DocumentSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    limit = serializers.IntegerField()
    total_pages = serializers.IntegerField()
