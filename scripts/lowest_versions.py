"""Pin every dependency that pyproject.toml declares to its lowest allowed version.

``make test-lowest`` (scripts/test_lowest.sh) installs these pins in their own virtual
environment and runs every notebook top to bottom, so that the ranges in
pyproject.toml (``torch>=2.6`` and so on) are versions that were run, not guesses.

    python scripts/lowest_versions.py [--extra test] > lowest-constraints.txt

Only direct dependencies are pinned (pip then picks the newest compatible versions of
their own dependencies), as a reader with an older install of exactly those packages
would have.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*(?:;.*)?$")


def lowest_pin(requirement: str) -> str:
    """``"torch>=2.6,<3"`` → ``"torch==2.6"``; a requirement without ``>=`` is an error."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    name, specifiers = match.groups()
    lower = [s.strip()[2:].strip() for s in specifiers.split(",") if s.strip().startswith(">=")]
    if len(lower) != 1:
        raise ValueError(
            f"{requirement!r} has no single lower bound: write it as '{name}>=X' in "
            "pyproject.toml, with X the oldest version the course was run with"
        )
    return f"{name}=={lower[0]}"


def lowest_pins(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise ValueError(f"no extra {extra!r} in {pyproject}; known: {sorted(optional)}")
        requirements += optional[extra]
    return [lowest_pin(r) for r in requirements]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="append", default=[], help="also pin this extra")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args(argv)
    print("\n".join(lowest_pins(args.pyproject, args.extra)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
