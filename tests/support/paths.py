"""Where the tests' own files are: the repository, fixture configs, snapshots, compat files.

`ORIGINAL_CONFIG` and its Job templates are the project's own files written in every form
the original mqtt-kube documented; tests that prove old configs keep working read them.
"""

from pathlib import Path
from typing import Final

TESTS: Final = Path(__file__).resolve().parents[1]
ROOT: Final = TESTS.parent
CONFIGS: Final = TESTS / "configs"
SNAPSHOTS: Final = TESTS / "snapshots"
COMPAT: Final = TESTS / "compat"
ORIGINAL_CONFIG: Final = COMPAT / "original-config.yaml"
ORIGINAL_JOB: Final = COMPAT / "original-job.yaml"
ORIGINAL_SYNC_JOB: Final = COMPAT / "original-sync-job.yaml"
