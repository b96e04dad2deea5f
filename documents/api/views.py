"""Documents API: upload, list, get, download (streamed) and delete an organization's files."""

from urllib.parse import quote

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_of
from core.negotiation import IgnoreAcceptNegotiation
from core.pagination import PageLimitPagination
from core.schema import errors
from core.serializers import body_refuse
from documents import selectors, services
from documents.api import serializers as s
from documents.permissions import DOCUMENTS_READ, DOCUMENTS_WRITE
from permissions.drf import OrgScopedMixin

TAGS = ["documents"]
ERRORS = errors(400, 401, 403, 404)
ORG_PATH = [OpenApiParameter("org_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Organization id")]
DOCUMENT_PATH = ORG_PATH + [OpenApiParameter("document_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Document id")]


class DocumentView(OrgScopedMixin, APIView):
    """Base of the documents views: reads need documents:read, writes documents:write."""

    required_permissions = {"GET": DOCUMENTS_READ, "POST": DOCUMENTS_WRITE, "DELETE": DOCUMENTS_WRITE}

    def get_document(self, document_id):
        document = selectors.document_get(organization=self.organization, document_id=document_id)
        if document is None:
            raise NotFound("Document not found.")
        return document


class DocumentListView(DocumentView):
    parser_classes = [MultiPartParser, FormParser]

    @staticmethod
    def max_request_body_bytes() -> int:
        """Upload bodies may pass DATA_UPLOAD_MAX_MEMORY_SIZE, up to the per-file cap (core.asgi, core.http)."""
        return services.document_request_max_bytes()

    @extend_schema(
        parameters=ORG_PATH
        + [
            OpenApiParameter("page", OpenApiTypes.INT, OpenApiParameter.QUERY, description=PageLimitPagination.page_query_description),
            OpenApiParameter("limit", OpenApiTypes.INT, OpenApiParameter.QUERY, description=PageLimitPagination.page_size_query_description),
        ],
        responses={200: s.DocumentPageSerializer, **ERRORS},
        tags=TAGS,
        operation_id="orgs_documents_list",
    )
    def get(self, request, org_id):
        """The organization's documents, newest first (`?page=&limit=`)."""
        paginator = PageLimitPagination()
        page = paginator.paginate_queryset(selectors.document_list(organization=self.organization), request, view=self)
        return paginator.get_paginated_response(s.DocumentSerializer(page, many=True).data)

    @extend_schema(
        parameters=ORG_PATH,
        request={"multipart/form-data": s.DocumentUploadSerializer},
        responses={
            201: s.DocumentSerializer,
            402: OpenApiResponse(description="PLAN_LIMIT_REACHED (the plan's storage_mb would be exceeded)"),
            413: OpenApiResponse(description="PAYLOAD_TOO_LARGE (file over DOCUMENT_MAX_UPLOAD_MB; refused while it streams in)"),
            **ERRORS,
        },
        tags=TAGS,
    )
    def post(self, request, org_id):
        """Upload a file (multipart `file`, optional `title` and `description`); its type is read from its bytes."""
        # Before request.data is first read: the file is refused as it streams in, at the limit,
        # never buffered whole to a temporary file and measured afterwards.
        request.upload_handlers.insert(0, services.document_upload_limiter(organization=self.organization))
        serializer = s.DocumentUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        document = services.document_upload(
            organization=self.organization,
            uploaded_file=data["file"],
            title=data["title"],
            description=data["description"],
            actor=actor_of(request),
        )
        return Response(s.DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class DocumentDetailView(DocumentView):
    @extend_schema(parameters=DOCUMENT_PATH, responses={200: s.DocumentSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, org_id, document_id):
        """One document's metadata."""
        return Response(s.DocumentSerializer(self.get_document(document_id)).data)

    @extend_schema(parameters=DOCUMENT_PATH, responses={204: None, **ERRORS}, tags=TAGS)
    def delete(self, request, org_id, document_id):
        """Delete a document and its stored file."""
        body_refuse(request)
        services.document_delete(document=self.get_document(document_id), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def content_disposition(filename: str) -> str:
    """An attachment header with the name percent-encoded (RFC 6266 / 5987)."""
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


class DocumentDownloadView(DocumentView):
    # The download's media type is the document's; errors are JSON whatever Accept says.
    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(
        parameters=DOCUMENT_PATH,
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file, as an attachment"), **ERRORS},
        tags=TAGS,
    )
    def get(self, request, org_id, document_id):
        """Stream the document's file as an attachment."""
        document = self.get_document(document_id)
        try:
            handle = document.file.open("rb")
        except FileNotFoundError:
            raise NotFound("The document's file is missing from storage.") from None
        response = FileResponse(handle, content_type=document.content_type)
        response["Content-Length"] = str(document.size)
        response["Content-Disposition"] = content_disposition(document.filename)
        # The stored type was sniffed by us; the browser must not second-guess it into HTML.
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response
