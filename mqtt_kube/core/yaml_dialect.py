"""The YAML dialect of mqtt-kube's files: which plain scalars read as booleans, and the parser.

PyYAML reads YAML 1.1, where `yes`, `no`, `on` and `off` are booleans. The original
service kept them as text in its configuration (`ON:` is the map key "ON", a payload), so
the configuration file and the launch templates rendered for it share this module's
resolvers: booleans are `true`/`false` only (any of the usual three spellings). Templates
also keep dates and `=` as text, since a manifest field never wants a Python date.
"""

from __future__ import annotations

import re
from typing import Final

import yaml

BOOL_TAG: Final = "tag:yaml.org,2002:bool"
STR_TAG: Final = "tag:yaml.org,2002:str"
MERGE_TAG: Final = "tag:yaml.org,2002:merge"
TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"
VALUE_TAG: Final = "tag:yaml.org,2002:value"
_BOOLEANS: Final = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")

# libyaml's parser, where PyYAML was built with it, reads a large file about five times
# faster than the pure-Python one and leaves far less garbage behind.
FastSafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def use_dialect(loader: type[yaml.SafeLoader], *, keep_dates: bool) -> None:
    """Give `loader` (a SafeLoader subclass) this dialect's implicit resolvers.

    `keep_dates` False also leaves timestamps and `=` as text.
    """
    dropped = {BOOL_TAG} if keep_dates else {BOOL_TAG, TIMESTAMP_TAG, VALUE_TAG}
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in dropped]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(BOOL_TAG, _BOOLEANS, list("tTfF"))
