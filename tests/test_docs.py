"""The documentation: the README starts with the two set-up commands and stays short; the settings and
commands reference is what the code generates; the site builds in strict mode (no broken link, no missing
page, every API object found)."""

import re

import pytest

from conftest import ROOT


def test_the_readme_starts_with_the_two_commands_and_is_short():
    text = (ROOT / "README.md").read_text()
    first = text.split("```")[1]
    assert "make run" in first and "make test" in first
    assert len(text.splitlines()) <= 200
    for link in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#[\w-]+)?\)", text):  # every page it links exists
        assert (ROOT / link).is_file(), link


def test_the_reference_is_what_the_code_generates():
    from lth import reference

    assert reference.PAGE.read_text() == reference.page(), "docs/reference.md is stale: python -m lth.reference"


def test_every_setting_and_command_is_in_the_reference():
    import dataclasses

    from lth import reference
    from lth.hparams import RunConfig, flag

    page = reference.page()
    for f in dataclasses.fields(RunConfig):
        assert f"`{flag(f.name)}`" in page, f.name
    for command in ("run", "submit", "sweep", "preset", "compare", "analyze", "export-model", "resume", "list"):
        assert f"### `lth {command}`" in page, command


@pytest.mark.trains  # mkdocs starts a process (git) while building
def test_the_site_builds_in_strict_mode(tmp_path):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path / "site"))
    assert config["strict"]
    build(config)  # strict: a broken link, a missing page or an unknown API object aborts the build
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "submit_all" in api and "RunStore" in api
    assert (tmp_path / "site" / "reference" / "index.html").is_file()
