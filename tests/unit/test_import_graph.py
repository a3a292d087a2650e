"""The layering holds: no import cycle, no arrow from a lower layer to a higher one, and the
drawn graph in docs/ is the current one. Layers and rules: tests/import_graph.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_graph import ROOT, cycles, import_edges, product_modules, upward_arrows

# Arrows still to be removed, each with the reason it is here; the list only ever shrinks,
# and it is empty: a new upward arrow is a layering bug to fix, not an entry to add here.
KNOWN_UPWARD: set[str] = set()


def test_no_module_takes_part_in_an_import_cycle() -> None:
    assert cycles(import_edges(product_modules())) == []


@pytest.mark.slow
def test_no_layer_imports_a_layer_above_it() -> None:
    arrows = set(upward_arrows(import_edges(product_modules())))
    assert arrows - KNOWN_UPWARD == set()
    assert KNOWN_UPWARD - arrows == set(), "an arrow was removed: take it off KNOWN_UPWARD"


def test_a_type_only_import_counts_as_an_arrow(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "config.py").write_text("X = 1\n")
    (tmp_path / "model" / "market.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.config import X\n")
    assert upward_arrows(import_edges(product_modules(tmp_path))) == [
        "model.market -> bot.config"]


@pytest.mark.integration  # draws the graph in a subprocess
@pytest.mark.slow
def test_docs_show_the_current_graph() -> None:
    drawn = subprocess.run([sys.executable, "-m", "tests.import_graph"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout
    assert (ROOT / "docs" / "import-graph.md").read_text() == drawn, (
        "regenerate: python -m tests.import_graph > docs/import-graph.md")
