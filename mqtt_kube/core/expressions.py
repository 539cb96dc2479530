"""The operator's Python expressions in value maps (`transform`, `lambda` keys), compiled.

They come from the operator's own configuration file and are trusted code, with Python's full
builtins and the `json` and `re` modules; this is no sandbox, and does not pretend to be one.
Payloads are only ever passed to them as arguments, never evaluated. Compiling happens once,
when the file loads, so a typo is a configuration problem, not a failure at the first message.
"""

from __future__ import annotations

import builtins
import inspect
import json
import re
from collections.abc import Callable
from typing import cast

from mqtt_kube.core.errors import ValueMapSpecError
from mqtt_kube.core.matchers import type_name

# Python's full builtins, as the original gave them: the file is the operator's own code, and
# any restriction here would be no sandbox (`().__class__.__base__.__subclasses__()` reaches
# everything), only a way to make working expressions fail at run time.
_EVAL_GLOBALS: dict[str, object] = {"__builtins__": builtins, "json": json, "re": re}


def compile_callable(source: object, *, what: str, key: str) -> Callable[[object], object]:
    """Evaluate the operator's expression into a callable taking one argument."""
    if not isinstance(source, str):
        raise ValueMapSpecError(
            f"{what} must be a Python expression in a string, not {type_name(source)}", key=key
        )
    try:
        function = eval(compile(source, f"<{what}>", "eval"), dict(_EVAL_GLOBALS))
    except SyntaxError as exc:
        raise ValueMapSpecError(
            f"{what} {source!r} is not valid Python: {exc.msg}", key=key
        ) from exc
    except Exception as exc:
        raise ValueMapSpecError(
            f"{what} {source!r} cannot be evaluated: {type(exc).__name__}: {exc}", key=key
        ) from exc
    if not callable(function):
        raise ValueMapSpecError(
            f"{what} {source!r} gives {type_name(function)}, not a function of one argument "
            "(write e.g. 'lambda v: ...')",
            key=key,
        )
    try:
        inspect.signature(function).bind(None)
    except TypeError as exc:
        raise ValueMapSpecError(
            f"{what} {source!r} cannot be called with one argument: {exc}", key=key
        ) from exc
    except ValueError:
        pass  # some builtins have no signature to inspect; calling them will tell
    return cast(Callable[[object], object], function)
