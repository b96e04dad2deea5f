"""Notifications API: the signed-in user's own notifications and preferences (not org-scoped)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import errors
from core.serializers import body_refuse
from notifications import selectors, services
from notifications.api import serializers as s
from notifications.models import Notification

TAGS = ["notifications"]
ERRORS = errors(
    400,
    401,
    403,
    wording={
        400: "VALIDATION_ERROR (names the bad field or parameter)",
        403: "INSUFFICIENT_PERMISSIONS (API keys cannot use these routes)",
    },
)
NOT_FOUND = {404: OpenApiResponse(description="NOT_FOUND (also for another user's notification)")}


def _query(serializer_class, request) -> dict:
    # An empty parameter (`?unread_only=` from a form) means "not given".
    serializer = serializer_class(data={k: v for k, v in request.query_params.items() if v != ""})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class NotificationListView(ListAPIView):
    serializer_class = s.NotificationSerializer
    queryset = Notification.objects.none()

    @extend_schema(parameters=[s.ListQuerySerializer], responses={200: s.NotificationSerializer(many=True), **ERRORS}, tags=TAGS)
    def get(self, request):
        """My notifications, newest first (`?unread_only=true`, `?organization_id=`)."""
        query = _query(s.ListQuerySerializer, request)
        notifications = selectors.notification_list(user=request.user, unread_only=query["unread_only"], organization_id=query.get("organization_id"))
        page = self.paginate_queryset(notifications)
        return self.get_paginated_response(s.NotificationSerializer(page, many=True).data)


class UnreadCountView(APIView):
    @extend_schema(parameters=[s.OrganizationFilterSerializer], responses={200: s.UnreadCountSerializer, **ERRORS}, tags=TAGS)
    def get(self, request):
        """How many of my notifications are unread."""
        query = _query(s.OrganizationFilterSerializer, request)
        return Response({"count": selectors.notification_unread_count(user=request.user, organization_id=query.get("organization_id"))})


class ReadAllView(APIView):
    @extend_schema(request=None, parameters=[s.OrganizationFilterSerializer], responses={200: s.ReadAllSerializer, **ERRORS}, tags=TAGS)
    def put(self, request):
        """Mark all my unread notifications read (only one organization's with `?organization_id=`)."""
        body_refuse(request)
        query = _query(s.OrganizationFilterSerializer, request)
        updated = services.notifications_mark_all_read(user=request.user, organization_id=query.get("organization_id"))
        return Response({"updated": updated})


class NotificationDetailView(APIView):
    @extend_schema(responses={200: s.NotificationSerializer, **ERRORS, **NOT_FOUND}, tags=TAGS)
    def get(self, request, notification_id):
        """One of my notifications."""
        notification = selectors.notification_get(user=request.user, notification_id=notification_id)
        return Response(s.NotificationSerializer(notification).data)

    @extend_schema(responses={204: None, **ERRORS, **NOT_FOUND}, tags=TAGS)
    def delete(self, request, notification_id):
        """Delete one of my notifications."""
        body_refuse(request)
        notification = selectors.notification_get(user=request.user, notification_id=notification_id)
        services.notification_delete(notification=notification)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationReadView(APIView):
    @extend_schema(request=None, responses={200: s.NotificationSerializer, **ERRORS, **NOT_FOUND}, tags=TAGS)
    def put(self, request, notification_id):
        """Mark one of my notifications read."""
        body_refuse(request)
        notification = selectors.notification_get(user=request.user, notification_id=notification_id)
        notification = services.notification_mark_read(notification=notification)
        return Response(s.NotificationSerializer(notification).data)


class PreferencesView(APIView):
    @extend_schema(responses={200: s.PreferencesSerializer, **ERRORS}, tags=TAGS)
    def get(self, request):
        """My notification preferences, with every known event (defaults filled in)."""
        return Response(selectors.preferences_get(user=request.user))

    @extend_schema(request=s.PreferencesUpdateSerializer, responses={200: s.PreferencesSerializer, **ERRORS}, tags=TAGS)
    def put(self, request):
        """Change my switches and per-event choices; anything left out stays as it is. Unknown events: 400."""
        serializer = s.PreferencesUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.preferences_update(user=request.user, data=serializer.validated_data)
        return Response(selectors.preferences_get(user=request.user))
