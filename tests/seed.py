"""Where the original service's example config, Job template and README are: `../shared/seed`."""

from pathlib import Path
from typing import Final

SEED: Final = Path(__file__).resolve().parents[2] / "shared" / "seed"
