"""Page/limit pagination in the contract's shape."""

import math

from django.core.paginator import InvalidPage, Paginator
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from core.exceptions import validation_error


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
