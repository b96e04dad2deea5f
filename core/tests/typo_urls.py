"""A URL map whose one view requires a misspelled permission, for the start-up check's test."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from core.authz import MEMBERSHIP


class TypoView(APIView):
    """Requires `org:reed` (meant `org:read`): nobody declares it."""

    required_permissions = {"GET": "org:reed", "POST": MEMBERSHIP}

    def get(self, request, org_id):
        return Response({})


nested = [path("things", TypoView.as_view())]
urlpatterns = [path("api/v1/orgs/<uuid:org_id>/", include(nested))]
