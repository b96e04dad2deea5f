"""dj-stripe's admin pages, made to open on the Stripe API version in use.

dj-stripe's model admins show model properties that read keys of the stored Stripe object
(`Invoice.paid` reads `stripe_data["paid"]`); Stripe's newer API versions dropped some of those
keys, so the changelist and change pages answered 500 on the first such row. Each dj-stripe
admin is registered again as a subclass whose same-named display methods (which Django's admin
prefers to the model's attributes) answer "-" for a key the object does not carry, and which
leaves out the properties that answer a secret (dj-stripe's change pages list every property).
"""

from django.contrib import admin

# The exceptions a property raises when its key or nested object is missing from `stripe_data`.
_MISSING = (KeyError, IndexError, TypeError, AttributeError, ValueError)
# Properties that answer a secret (`Account.default_api_key` is the Stripe secret key): never shown.
_HIDDEN = frozenset({"default_api_key"})


def _hidden(name) -> bool:
    return isinstance(name, str) and (name in _HIDDEN or "secret" in name) and name != "secret_redacted"


def _safe_display(name: str):
    def display(self, obj):
        try:
            return getattr(obj, name)
        except _MISSING:
            return None

    display.__name__ = name
    display.short_description = name.replace("_", " ")
    return display


def _properties(model) -> list[str]:
    return [name for name in dir(model) if name != "pk" and isinstance(getattr(model, name, None), property)]


def _without_hidden(method):
    def filtered(self, request, *args, **kwargs):
        return [name for name in method(self, request, *args, **kwargs) if not _hidden(name)]

    return filtered


def tolerant_admin(model_admin_class: type[admin.ModelAdmin], model) -> type[admin.ModelAdmin]:
    """A subclass of `model_admin_class` whose property displays survive keys missing from `stripe_data`."""
    attrs = {
        name: _safe_display(name)
        for name in _properties(model)
        # Never shadow the admin's own attributes (`media`, `urls`...).
        if not hasattr(model_admin_class, name) and not _hidden(name)
    }
    attrs["__module__"] = __name__
    attrs["get_readonly_fields"] = _without_hidden(model_admin_class.get_readonly_fields)
    attrs["get_list_display"] = _without_hidden(model_admin_class.get_list_display)
    return type(f"Tolerant{model_admin_class.__name__}", (model_admin_class,), attrs)


def djstripe_admins_register(site: admin.AdminSite = admin.site) -> None:
    """Re-register every dj-stripe model admin of `site` as its tolerant subclass."""
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != "djstripe" or type(model_admin).__module__ == __name__:
            continue
        site.unregister(model)
        site.register(model, tolerant_admin(type(model_admin), model))


djstripe_admins_register()
