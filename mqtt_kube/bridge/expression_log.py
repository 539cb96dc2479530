"""Reports a `lambda` map key that raises at run time: once at WARNING, then at DEBUG.

A predicate that raises counts as no match (`ValueMap.match`). It is the operator's own code
with a mistake the file could not show (a field that is sometimes text, a missing key), so
the first failure of each expression is a WARNING naming the binding, the association and
the expression; repeating it for every value would only bury the other lines.
"""

from __future__ import annotations

import logging

from mqtt_kube.core.matchers import preview
from mqtt_kube.core.valuemap import PredicateErrorHandler

logger = logging.getLogger(__name__)


class ExpressionLog:
    """The reporters of one binding's associations, and which expressions have warned."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._warned: set[tuple[str, str]] = set()
        self._reporters: dict[str, PredicateErrorHandler] = {}

    def reporter(self, where: str, topic: str) -> PredicateErrorHandler:
        """The handler for the association at `where` (e.g. `bindings[0].watch[1]`)."""
        found = self._reporters.get(where)
        if found is None:

            def report(expression: str, value: object, error: Exception) -> None:
                self._report(where, topic, expression, value, error)

            found = self._reporters[where] = report
        return found

    def _report(
        self, where: str, topic: str, expression: str, value: object, error: Exception
    ) -> None:
        first = (where, expression) not in self._warned
        self._warned.add((where, expression))
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "%s: %s (%s): lambda %r raised %s: %s on %s; counted as no match%s",
            self._label,
            where,
            topic,
            expression,
            type(error).__name__,
            error,
            preview(value),
            " (later failures of this expression are logged at DEBUG)" if first else "",
        )
