"""Audit log API: read-only lists (page/limit or keyset), one event, stats, export and verification."""

import csv
import json
import math
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import chain, selectors
from audit.api import serializers as s
from audit.permissions import AUDIT_READ
from core import clock
from core.exceptions import validation_error
from core.negotiation import IgnoreAcceptNegotiation
from core.pagination import PageLimitPagination, positive_int_param
from core.schema import errors
from permissions.drf import OrgScopedMixin

TAGS = ["audit"]
ERRORS = errors(
    400,
    401,
    403,
    404,
    wording={
        400: "VALIDATION_ERROR (names the bad parameter)",
        403: "INSUFFICIENT_PERMISSIONS (needs audit:read) / INVALID_ORG_CONTEXT",
    },
)
ORG_PATH = [OpenApiParameter("org_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Organization id")]
EVENT_PATH = ORG_PATH + [OpenApiParameter("event_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Event id")]

# CSV columns of an export, in order (the header row): the model's field names.
CSV_COLUMNS = (
    "id", "created_at", "action", "actor_type", "actor_id", "actor_email", "impersonator_id",
    "organization_id", "target_type", "target_id", "changes", "metadata", "ip", "user_agent",
    "request_id", "sequence", "prev_hash", "hash",
)  # fmt: skip
EXPORT_DESCRIPTION = (
    "`format=csv`: text/csv with a header row (columns: " + ", ".join(CSV_COLUMNS) + "). "
    "`format=jsonl`: application/x-ndjson, one event per line in the API shape plus metadata, "
    "sequence, prev_hash and hash (enough to re-check the chain offline)."
)
STREAM_CHUNK_CHARS = 64 * 1024
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _given(request) -> dict[str, str]:
    # An empty parameter (`?action=` from a form) means "no filter", not a validation error.
    return {name: value for name, value in request.query_params.items() if value != ""}


def _query(request, serializer_class=s.EventFilterSerializer):
    # Each endpoint reads its own parameters: the filters are strict, so the list's `page`,
    # `limit`, `offset` and `cursor` are known only to the list's serializer.
    serializer = serializer_class(data=_given(request))
    serializer.is_valid(raise_exception=True)
    return serializer


def _filters(request) -> selectors.EventFilters:
    return _query(request).filters()


class AuditView(OrgScopedMixin, APIView):
    """Base of the audit views: GET only, behind `audit:read`."""

    required_permissions = {"GET": AUDIT_READ}

    def initial(self, request, *args, **kwargs):
        # Events are append-only: any writing method is 405 here, before the permission lookup
        # (which fails closed on an undeclared method).
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def required_permission(self) -> str:
        # HEAD and OPTIONS read what GET reads.
        if self.request.method in ("HEAD", "OPTIONS"):
            return self.required_permissions["GET"]
        return super().required_permission()


class AuditLogListView(AuditView):
    @extend_schema(
        parameters=ORG_PATH + [s.ListQuerySerializer],
        responses={
            200: PolymorphicProxySerializer(
                component_name="AuditEventList",
                serializers=[s.AuditEventPageSerializer, s.AuditEventCursorPageSerializer],
                resource_type_field_name=None,
            ),
            **ERRORS,
        },
        tags=TAGS,
        operation_id="orgs_audit_logs_list",
    )
    def get(self, request, org_id):
        """The organization's audit events, newest first: `?page=&limit=`, `?limit=&offset=`, or keyset with `?cursor=`.

        Any request carrying `cursor` (empty for the first page) is keyset-paginated and answers
        `{data, next_cursor}`; keyset pages stay as fast deep into the log as on its first page.
        With `offset` (and no cursor) the page starts after that many events and the answer
        carries `offset` too.
        """
        query = _query(request, s.ListQuerySerializer)
        events = selectors.event_list(organization=self.organization, filters=query.filters())
        if "offset" in query.validated_data and "cursor" not in request.query_params:
            if "page" in query.validated_data:
                raise validation_error("offset", "Use `page` or `offset`, not both.")
            return self._offset_page(request, events, offset=query.validated_data["offset"])
        if "cursor" in request.query_params:
            limit = min(positive_int_param(request, "limit", PageLimitPagination.page_size), PageLimitPagination.max_page_size)
            rows, next_cursor = selectors.keyset_page(events=events, cursor=request.query_params["cursor"], limit=limit)
            return Response({"data": [s.event_item(event) for event in rows], "next_cursor": next_cursor})
        paginator = PageLimitPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response([s.event_item(event) for event in page])

    def _offset_page(self, request, events, *, offset: int) -> Response:
        limit = PageLimitPagination().get_page_size(request)
        rows = list(events[offset : offset + limit])
        # A short page that is not empty, or an empty first one, tells the total without a COUNT.
        total = offset + len(rows) if (0 < len(rows) < limit or (offset == 0 and not rows)) else events.count()
        return Response(
            {
                "data": [s.event_item(event) for event in rows],
                "total": total,
                "page": offset // limit + 1,
                "limit": limit,
                "total_pages": max(1, math.ceil(total / limit)),
                "offset": offset,
            }
        )


class AuditLogActorsView(AuditView):
    @extend_schema(parameters=ORG_PATH, responses={200: s.AuditLogActorListSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, org_id):
        """Who appears in the organization's audit log, with event counts: the choices of the `actor` filter."""
        return Response({"data": selectors.event_actors(organization=self.organization)})


class AuditLogDetailView(AuditView):
    @extend_schema(parameters=EVENT_PATH, responses={200: s.AuditEventSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, org_id, event_id):
        """One audit event of the organization."""
        event = selectors.event_get(organization=self.organization, event_id=event_id)
        if event is None:
            raise NotFound("Audit event not found.")
        return Response(s.event_item(event))


class AuditLogStatsView(AuditView):
    @extend_schema(parameters=ORG_PATH + [s.EventFilterSerializer], responses={200: s.AuditStatsSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, org_id):
        """Counts of the (filtered) events per action and per UTC day."""
        return Response(selectors.event_stats(organization=self.organization, filters=_filters(request)))


class AuditLogVerifyView(AuditView):
    @extend_schema(parameters=ORG_PATH, responses={200: s.AuditVerifySerializer, **ERRORS}, tags=TAGS)
    def get(self, request, org_id):
        """Recompute the organization's hash chain and name the first event that breaks it."""
        report = selectors.chain_verify(organization_id=self.organization.id)
        return Response(
            {
                "valid": report.valid,
                "checked": report.checked,
                "first_broken_id": str(report.first_broken_id) if report.first_broken_id else None,
            }
        )


class _Echo:
    """A write-only file for csv.writer that hands back each line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, datetime):
        return chain.timestamp(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_lines(events: Iterable) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events:
        # The columns are the model's field names.
        yield writer.writerow([_csv_cell(getattr(event, column)) for column in CSV_COLUMNS])


def _jsonl_lines(events: Iterable) -> Iterator[str]:
    for event in events:
        yield json.dumps(s.export_item(event), ensure_ascii=False, separators=(",", ":")) + "\n"


def _streamed(make_events, render) -> Iterator[str]:
    # The body is produced after the view returned (and its request transaction ended): a
    # transaction of its own lets PostgreSQL stream from a server-side cursor instead of
    # materializing the whole result for a WITH HOLD cursor.
    with transaction.atomic():
        buffer: list[str] = []
        size = 0
        for line in render(make_events()):
            buffer.append(line)
            size += len(line)
            # ~64 KB per write instead of one tiny write per row.
            if size >= STREAM_CHUNK_CHARS:
                yield "".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield "".join(buffer)


class AuditLogExportView(AuditView):
    # The export picks its media type from `?format=`; errors are JSON whatever Accept says.
    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(
        parameters=ORG_PATH + [s.ExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=EXPORT_DESCRIPTION),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description=EXPORT_DESCRIPTION),
            **ERRORS,
        },
        tags=TAGS,
    )
    def get(self, request, org_id):
        """Stream the (filtered) events, newest first, as CSV or JSON lines."""
        query = s.ExportQuerySerializer(data=_given(request))
        query.is_valid(raise_exception=True)
        filters = query.filters()
        organization = self.organization
        fmt = query.validated_data["format"]
        render, content_type = (_csv_lines, "text/csv; charset=utf-8") if fmt == "csv" else (_jsonl_lines, "application/x-ndjson")
        response = StreamingHttpResponse(
            _streamed(lambda: selectors.event_iter(organization=organization, filters=filters), render),
            content_type=content_type,
        )
        filename = f"audit-{organization.slug}-{clock.now():%Y%m%d}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
