"""System checks run by `manage.py check`, `migrate`, `runserver` and the test suite."""

from collections.abc import Iterator

from django.core import checks
from django.urls import URLPattern, URLResolver, get_resolver

from core import authz


def _view_classes(patterns) -> Iterator[type]:
    """Every class-based view the URL patterns route to, nested includes followed."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _view_classes(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            # DRF's as_view() (views and viewsets) sets `cls`; Django's sets `view_class`.
            view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
            if view is not None:
                yield view


@checks.register(checks.Tags.urls)
def required_permissions_declared(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Report every routed view whose `required_permissions` names a permission nobody declared."""
    # Run after every app's ready() has declared its permissions, so a misspelled code fails at
    # start-up instead of refusing the route for everyone (the engine denies an unknown code).
    errors: list[checks.CheckMessage] = []
    seen: set[type] = set()
    for view in _view_classes(get_resolver().url_patterns):
        if view in seen:
            continue
        seen.add(view)
        for key, code in (getattr(view, "required_permissions", None) or {}).items():
            if code == authz.MEMBERSHIP or authz.is_declared(code):
                continue
            errors.append(
                checks.Error(
                    f"{view.__module__}.{view.__qualname__} requires undeclared permission {code!r} for {key!r}.",
                    hint="Declare it with core.authz.declare in its app's permissions.py and use the returned constant.",
                    obj=view,
                    id="core.E001",
                )
            )
    return errors
