"""Page/limit pagination in the contract's shape."""

import math
from collections.abc import Callable
from typing import Any

from django.core.paginator import InvalidPage, Page, Paginator
from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from core.exceptions import validation_error
from core.serializers import RowRenderer
from core.sql import CompiledQuery


def positive_int_param(request, name: str, default: int) -> int:
    """Read an integer ≥ 1 from the query string (absent or empty → default); 400 naming it otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # isascii + isdigit: int() would also take "+3", " 3" or non-ASCII digits.
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise validation_error(name, f"`{name}` must be a positive integer.")
    return int(raw)


class CountSavingPaginator(Paginator):
    """A Paginator that learns the total from a first page holding every row, without a COUNT query.

    Most lists fit on their first page; for them `SELECT COUNT(*)` would be a second round
    trip that tells nothing new. Page 1 fetches one row more than it shows: when that extra
    row is absent, the rows fetched are the total.
    """

    def page(self, number):
        if str(number) != "1" or "count" in self.__dict__:
            return super().page(number)
        rows = list(self.object_list[: self.per_page + 1])
        if len(rows) <= self.per_page:
            self.count = len(rows)  # fills the cached_property, so nothing counts again
        return self._get_page(rows[: self.per_page], 1, self)


class PageLimitPagination(PageNumberPagination):
    """`?page=&limit=` (limit ≤ 100) → {data, total, page, limit, total_pages}."""

    django_paginator_class = CountSavingPaginator
    page_size = 20
    page_query_param = "page"
    page_size_query_param = "limit"
    max_page_size = 100
    # Only integers are page numbers: "last" would be one more thing to document and test.
    last_page_strings = ()
    page_query_description = "Page number, from 1."
    page_size_query_description = "Items per page, 1 to 100 (larger values are capped at 100); default 20."

    def get_page_size(self, request):
        """Return `limit`, capped at `max_page_size`; 400 when it is not a positive integer."""
        return min(positive_int_param(request, self.page_size_query_param, self.page_size), self.max_page_size)

    def get_page_number(self, request, paginator):
        """Return `page`; 400 when it is not a positive integer (past the last page stays a 404)."""
        return positive_int_param(request, self.page_query_param, 1)

    def paginate_queryset(self, queryset, request, view=None):
        """Return the requested page's rows; 404 past the last page.

        DRF's own version asks for the page count (to show the browsable API's page controls),
        which would spend the COUNT query the paginator saves on a short first page.
        """
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            raise NotFound(self.invalid_page_message.format(page_number=page_number, message=str(exc))) from exc
        return list(self.page)

    def first_page_response(self, request, data: list, *, total: int, limit: int) -> Response:
        """The contract's page 1 for rows fetched by the caller (`CompiledFirstPageMixin`)."""
        self.request = request
        paginator = self.django_paginator_class([], limit)
        paginator.count = total  # fills the cached_property
        self.page = Page(data, 1, paginator)
        return self.get_paginated_response(data)

    def get_paginated_response(self, data):
        total = self.page.paginator.count
        limit = self.page.paginator.per_page
        return Response(
            {
                "data": data,
                "total": total,
                "page": self.page.number,
                "limit": limit,
                "total_pages": max(1, math.ceil(total / limit)) if limit else 1,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["data", "total", "page", "limit", "total_pages"],
            "properties": {
                "data": schema,
                "total": {"type": "integer", "example": 100},
                "page": {"type": "integer", "example": 1},
                "limit": {"type": "integer", "example": 20},
                "total_pages": {"type": "integer", "example": 5},
            },
        }


class CompiledList:
    """A list's rows in a read serializer's shape: the ORM's SQL compiled once (core.sql), rendered by its fields (core.serializers.RowRenderer).

    `build(owner)` is the list's queryset for the instance it belongs to (an org's members for
    the org), ordered; only the serializer's columns are selected from it.
    """

    def __init__(self, serializer_class, model: type[Model], build: Callable[[Model], QuerySet]):
        self.renderer = RowRenderer(serializer_class)
        self.query = CompiledQuery(model, lambda marker: build(marker).values_list(*self.renderer.columns))

    def page(self, owner: Model, *, high: int) -> list[dict[str, Any]]:
        """The first `high` rows of `owner`'s list, rendered."""
        return self.renderer.render(self.query.rows(owner, high=high))


class CompiledFirstPageMixin:
    """A paginated ListAPIView serving page 1 of its unfiltered list from a `CompiledList` (issue 17).

    Page 1 without filters is what clients ask for nearly always (a member list, a picker); it
    skips building and compiling the queryset, a model instance per row and DRF's field walk.
    The view sets `first_page` (a CompiledList of its serializer), `list_filters` (the query
    parameters that filter: any of them non-empty takes DRF's path) and `first_page_owner()`.
    Every other page, and a filtered list, is DRF's `list()` unchanged. The total is counted
    only when page 1 is full, as CountSavingPaginator does.
    """

    first_page: CompiledList
    list_filters: tuple[str, ...] = ()

    def first_page_owner(self) -> Model:
        raise NotImplementedError

    def list(self, request, *args, **kwargs):
        paginator = self.paginator
        if not isinstance(paginator, PageLimitPagination) or any(request.query_params.get(name) for name in self.list_filters):
            return super().list(request, *args, **kwargs)
        limit = paginator.get_page_size(request)
        if paginator.get_page_number(request, None) != 1:
            return super().list(request, *args, **kwargs)
        rows = self.first_page.page(self.first_page_owner(), high=limit + 1)
        total = len(rows) if len(rows) <= limit else self.filter_queryset(self.get_queryset()).count()
        return paginator.first_page_response(request, rows[:limit], total=total, limit=limit)
