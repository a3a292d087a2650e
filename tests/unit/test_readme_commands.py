"""README's two commands are the ones that work: CI runs the test command verbatim."""

from __future__ import annotations

import re

from tests.import_graph import ROOT


def _readme_commands() -> list[str]:
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", quick_start, re.S)
    assert block is not None, "README's Quick start has no bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_the_quick_start_has_exactly_two_commands_run_and_test() -> None:
    run, test = _readme_commands()
    assert run.endswith(".venv/bin/entasis run")
    assert test.endswith(".venv/bin/python -m pytest -q")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test = _readme_commands()
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()
