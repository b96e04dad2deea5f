"""What a request body may be: JSON nested at most MAX_JSON_DEPTH deep, uploads cut off while they stream."""

import re
from collections.abc import Callable
from itertools import accumulate
from typing import NoReturn

from django.core.files.uploadhandler import FileUploadHandler
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

# Deeper than any document this API takes; far below the ~1000 frames at which json recurses out.
MAX_JSON_DEPTH = 64
TOO_DEEP_MESSAGE = f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted."

_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """How deeply `text` nests arrays and objects, found in linear time without recursing."""
    # Escapes go first, so every quote left opens or closes a string (no backtracking regex),
    # then the strings (brackets inside them do not nest), then everything but brackets.
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text)))
    return max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)


def json_too_deep(text: str) -> bool:
    """Tell whether `text` nests deeper than MAX_JSON_DEPTH."""
    return json_depth(text) > MAX_JSON_DEPTH


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (the default one) that refuses deep nesting with a 400 instead of a RecursionError 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        # DRF's check: a text charset only (a bytes-to-bytes codec would decompress past the size limit).
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except UnicodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if json_too_deep(text):
            raise ParseError(TOO_DEEP_MESSAGE)
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:  # unreachable after the depth check; kept so no body can ever 500 here
            raise ParseError(TOO_DEEP_MESSAGE) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class StreamLimitUploadHandler(FileUploadHandler):
    """Count a multipart body's file bytes as they stream in; past `max_bytes`, call `refuse` (which raises).

    Put it first in `request.upload_handlers` before the body is parsed: the handlers after it
    (memory, temporary file) never see a byte past the limit, and the rest of the body is never
    read. A declared Content-Length that cannot fit is refused before the first byte is read.
    """

    def __init__(self, *, max_bytes: int, refuse: Callable[[int], NoReturn], overhead_bytes: int = 64 * 1024):
        super().__init__()
        self.max_bytes = max_bytes
        self.refuse = refuse
        # Multipart framing and the form's small fields on top of the files themselves.
        self.overhead_bytes = overhead_bytes
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.max_bytes + self.overhead_bytes:
            self.refuse(content_length - self.overhead_bytes)
        return None  # the default parsing goes on, through this handler's receive_data_chunk

    def receive_data_chunk(self, raw_data, start):
        # Every file of the request counts: ten files just under the limit are not one under it.
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.refuse(self.received)
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the file
