"""environment.yml (conda / Binder) must list what pyproject.toml lists."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names of packages whose PyPI name differs
CONDA_TO_PYPI = {"pytorch": "torch", "python-graphviz": "graphviz"}
# conda-only entries: the interpreter, pip itself, the Graphviz binaries
CONDA_ONLY = {"python", "pip", "graphviz-binary"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*?)\s*(#.*)?$")


def _split(requirement: str) -> tuple[str, str]:
    match = REQUIREMENT.match(requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    name = match.group(1).lower().replace("_", "-")
    spec = match.group(3).replace(" ", "")
    return name, ",".join(sorted(spec.split(","))) if spec else ""


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return dict(_split(r) for r in requirements)


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for pip_entry in entry["pip"]:
                if pip_entry.startswith("-e"):
                    continue
                name, spec = _split(pip_entry)
                found[name] = spec
            continue
        name, spec = _split(entry.replace("=", "==", 1) if re.match(r"^python=", entry) else entry)
        if name == "graphviz" and not spec:
            name = "graphviz-binary"  # conda's graphviz is the program, not the Python package
        found[CONDA_TO_PYPI.get(name, name)] = spec
    return {k: v for k, v in found.items() if k not in CONDA_ONLY}


def test_same_packages_and_version_ranges():
    assert environment_requirements() == pyproject_requirements()


def test_environment_installs_the_course_package_and_dot():
    text = (ROOT / "environment.yml").read_text()
    assert "- -e ." in text
    assert re.search(r"^\s*- graphviz\s", text, flags=re.MULTILINE)


def test_constraints_pin_every_requirement_exactly():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    for name in pyproject_requirements():
        assert name in pins, f"constraints.txt has no pin for {name}"
    # The environment under test is the locked one, and the pair really works together
    # (a mismatched torchvision fails on its compiled operators, e.g. nms).
    import importlib.metadata

    import torch
    import torchvision

    for name in ("torch", "torchvision"):
        installed = importlib.metadata.version(name).split("+")[0]
        assert installed == pins[name], f"{name} {installed} installed, {pins[name]} pinned"
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.9]])
    kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), iou_threshold=0.5)
    assert kept.tolist() == [0]
