from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication


@api_view(["GET"])
@authentication_classes([JWTAuthentication])  # signature, expiry, one user row
@permission_classes([IsAuthenticated])
@throttle_classes([])
def me(request):
    """The bearer's id and e-mail: the least an authenticated read can do."""
    return Response({"id": str(request.user.pk), "email": request.user.email})
