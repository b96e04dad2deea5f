import factory

from accounts.tests.factories import UserFactory
from notifications.models import Notification


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    user = factory.SubFactory(UserFactory)
    event = "role_changed"
    title = factory.Sequence(lambda n: f"Notification {n}")
    body = "Something happened."
    data = factory.LazyFunction(dict)
