"""Text that exists on every machine: the Python standard library's own source."""

import sysconfig
from pathlib import Path

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(limit: int | None = None) -> list[Path]:
    """The standard library's *.py files (site-packages left out), in a stable order."""
    files = sorted(p for p in STDLIB.rglob("*.py") if "site-packages" not in p.parts)
    return files[:limit] if limit else files
