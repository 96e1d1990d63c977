"""pyproject.toml's metadata: its dependencies are the packages requirements*.txt pin (the install source),
each at its pinned version or newer."""

import re
import tomllib

from conftest import ROOT


def requirements(lines: list[str], operator: str) -> dict[str, tuple[int, ...]]:
    """{package: version} of `name<operator>X.Y.Z` lines (comments and blank lines skipped)."""
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(rf"([A-Za-z0-9_.-]+)\s*{re.escape(operator)}\s*(\d+(?:\.\d+)*)", line)
            assert match, line
            found[match[1].lower()] = tuple(int(part) for part in match[2].split("."))
    return found


def test_pyproject_names_the_pinned_packages_at_their_pinned_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "lottery-ticket-lab" and project["requires-python"] == ">=3.11"
    for declared, pinned_in in (
        (project["dependencies"], "requirements.txt"),
        (project["optional-dependencies"]["ray"], "requirements-ray.txt"),
    ):
        minimum = requirements(declared, ">=")
        pinned = requirements((ROOT / pinned_in).read_text().splitlines(), "==")
        assert set(minimum) == set(pinned), pinned_in
        assert all(pinned[name] >= minimum[name] for name in pinned), pinned_in
