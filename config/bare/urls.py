from django.urls import path

from config.bare.views import me

urlpatterns = [path("api/v1/bare/me", me, name="bare-me")]
