"""The YAML dialects of mqtt-kube's files: which plain scalars read as booleans, and the parser.

PyYAML reads YAML 1.1, where `yes`, `no`, `on` and `off` are booleans. Two files, two
readers to agree with:

- The configuration file reads them as text, as the original service did: `ON:` is the
  map key "ON", a payload. Booleans are `true`/`false` only (any of the usual three
  spellings).
- A launch template is a Kubernetes manifest, and kubectl (like the original) reads YAML 1.1
  booleans: `hostNetwork: yes` is true. Templates also keep dates and `=` as text, since a
  manifest field never wants a Python date. (A payload inserted alone follows its own,
  stricter rules: `mqtt_kube.core.template_yaml`.)
"""

from __future__ import annotations

import re
from typing import Final, Literal

import yaml

BOOL_TAG: Final = "tag:yaml.org,2002:bool"
STR_TAG: Final = "tag:yaml.org,2002:str"
MERGE_TAG: Final = "tag:yaml.org,2002:merge"
TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"
VALUE_TAG: Final = "tag:yaml.org,2002:value"
_BOOLEANS: Final = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")

Dialect = Literal["config", "template"]

# libyaml's parser, where PyYAML was built with it, reads a large file about five times
# faster than the pure-Python one and leaves far less garbage behind.
FastSafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def use_dialect(loader: type[yaml.SafeLoader], dialect: Dialect) -> None:
    """Give `loader` (a SafeLoader subclass) the implicit resolvers of `dialect`."""
    dropped = {BOOL_TAG} if dialect == "config" else {TIMESTAMP_TAG, VALUE_TAG}
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in dropped]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    if dialect == "config":
        loader.add_implicit_resolver(BOOL_TAG, _BOOLEANS, list("tTfF"))
