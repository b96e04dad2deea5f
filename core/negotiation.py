"""Content negotiation for views whose success body has its own media type."""

from rest_framework.negotiation import DefaultContentNegotiation


class IgnoreAcceptNegotiation(DefaultContentNegotiation):
    """Answer with the view's first renderer whatever Accept says; parsers are still picked by Content-Type.

    A download, an export or an event stream chooses its own media type, and a client that asked
    for that type still gets its errors as JSON envelopes instead of a 406.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
