"""The JSON the API accepts: at most MAX_JSON_DEPTH levels of nesting and only numbers a float can
hold, so a hostile body is a 400 with the reason rather than a RecursionError or an infinity deep
in the code (issue 9). `DepthLimitedJSONParser` is the parser of every API view (settings and
RegistryApi); `json_loads` is the same rule for JSON in a query parameter."""

import codecs
import json
import math
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding  # type: ignore[attr-defined]  # public in DRF, missing from the stubs

# Deeper than any document the API defines (a spec is 4 levels), far below the recursion limit.
MAX_JSON_DEPTH = 64
# Python refuses to convert longer digit strings to int (sys.get_int_max_str_digits).
_MAX_DIGITS = 4300
# JSON strings (skipped whole, brackets inside them do not count) and brackets.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]')


class JSONInputError(ValueError):
    """JSON that the API refuses; the message is for the client."""


def json_too_deep(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in `text` nest deeper than `max_depth` (one linear scan, no parsing)."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def json_loads(text: str, *, max_depth: int = MAX_JSON_DEPTH):
    """Parse `text` as strict JSON; JSONInputError (a ValueError) with a readable reason if it is
    nested deeper than `max_depth`, holds a number out of range, NaN or Infinity, or is not JSON."""
    if json_too_deep(text, max_depth=max_depth):
        raise JSONInputError(f"JSON nested too deeply (more than {max_depth} levels).")
    try:
        return json.loads(text, parse_float=_finite_float, parse_int=_int, parse_constant=_no_constant)
    except JSONInputError:
        raise
    except ValueError as exc:
        raise JSONInputError(f"JSON parse error - {exc}") from None


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JSONInputError(f"JSON parse error - the number {_short(literal)} is too large.")
    return value


def _int(literal: str) -> int:
    if len(literal.lstrip("-")) > _MAX_DIGITS:
        raise JSONInputError(f"JSON parse error - a number has more than {_MAX_DIGITS} digits.")
    return int(literal)


def _no_constant(name: str):
    raise JSONInputError(f"JSON parse error - {name} is not a number JSON allows.")


def _short(literal: str) -> str:
    return literal if len(literal) <= 40 else f"{literal[:20]}...{literal[-10:]}"


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSONParser with json_loads' limits; every refusal is a 400 {"detail": reason}."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            text = codecs.getreader(get_encoding(parser_context or {}))(stream).read()
            return json_loads(text)
        except JSONInputError as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:  # undecodable bytes
            raise ParseError(f"JSON parse error - {exc}") from None
