"""Page/limit pagination in the contract's shape."""
import math

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class PageLimitPagination(PageNumberPagination):
    """`?page=&limit=` (limit ≤ 100) → {data, total, page, limit, total_pages}."""

    page_size = 20
    page_query_param = "page"
    page_size_query_param = "limit"
    max_page_size = 100

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
