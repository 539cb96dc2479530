"""JSON from the API server, decoded by orjson, with the standard library's answer kept.

Every watch event and every list page is decoded here: orjson parses bytes in C several
times faster than `json`, which for a stream of small events is most of the cost of reading
it. Its values are those of `json` for all the API server writes: integers within 64 bits
(the server's own int64; a larger number in a custom resource it already turns into a
float) and finite floats. What orjson refuses and `json` reads (`NaN`, `1e400`) `json`
decodes, so what mqtt-kube accepts does not change; what neither reads is a ValueError.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

_fallback: Final = json.JSONDecoder().decode

# orjson alone, for a loop that decodes every event: it calls `loads` on the ValueError
# this raises, so that what only `json` reads is still read.
decode_fast: Final = orjson.loads


def loads(data: bytes | str) -> Any:
    """The JSON value of `data` (UTF-8 bytes or text); ValueError when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
        return _fallback(text)
