"""The docs say what the code does: every config key is documented, commands have help, and the
pages are free of characters that break their rendering."""

from __future__ import annotations

import re
import sys

import pytest

from rnn_recipes.cli import cli
from tests.conftest import REPO, builtin_tasks, invoke

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# The shipped tasks only: a test module may register a throwaway task (test_task_contract's "sum")
# before this one is collected, and it has no page.
@pytest.mark.parametrize("task", builtin_tasks())
def test_every_config_key_is_in_the_task_page(task: str):
    resolved = tomllib.loads(invoke("show", task).stdout)
    page = (REPO / "docs" / f"{task}.md").read_text(encoding="utf-8")
    keys = [f"{s}.{k}" for s, table in resolved.items() if isinstance(table, dict) for k in table]
    missing = [k for k in keys if f"`{k}`" not in page]
    assert not missing, f"docs/{task}.md does not document {missing}"


def test_every_command_has_help_and_an_example():
    for name, command in cli.commands.items():
        assert command.help and "Example" in command.help, name


@pytest.mark.parametrize(
    "page",
    [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md", REPO / "CHANGELOG.md"],
    ids=lambda p: p.name,
)
def test_math_has_no_control_characters(page):
    # A "\t" typed into a Python string once turned \text{...} into a TAB plus "ext{...}".
    # "\b", "\f" and "\a" did the same to \big, \frac and \alpha: no page holds a control
    # character anywhere, and math lines no tab either.
    for number, line in enumerate(page.read_text(encoding="utf-8").split("\n"), 1):
        assert not re.search(r"[\x00-\x08\x0b-\x1f]", line), f"{page.name}:{number}"
        if re.search(r"\\[a-zA-Z]+[{(]|\$\$", line):
            assert "\t" not in line, f"{page.name}:{number}"
