"""The product's import graph, and the two rules it must keep: no cycle between modules, and
no arrow from a lower layer to a higher one.

Layers, lowest first (a package may import its own modules and any lower layer's):

    model        market, instruments, orders, fill model, C-library math: the domain's words
    strategies   features, ranking, policies, forecasts: pure functions of market data
    risk, state  risk rules and limits; the ledger and what it projects
    trading      the engine, the trader, the operator's controls and the broker port
    exchange     adapters: feeds, brokers (paper and ccxt), the simulated exchange
    rl           self-play training and the RL environment
    bot          the application: config, runtime wiring, operator surfaces, CLI, research

Every import counts, `if TYPE_CHECKING:` ones included: a type-only arrow still says the lower
layer knows the higher one. `python -m tests.import_graph` prints the package graph as a
Mermaid diagram (docs/import-graph.md is its output) and exits 1 on a broken rule.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS: dict[str, int] = {"model": 0, "strategies": 1, "risk": 2, "state": 2, "trading": 3,
                          "exchange": 4, "rl": 5, "bot": 6}
BOT_ROOMS = ("app", "ops", "cli", "research")  # bot's sub-packages, drawn as their own boxes


def product_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the layered packages."""
    found: dict[str, Path] = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            dotted = ".".join(path.relative_to(root).with_suffix("").parts)
            found[dotted.removesuffix(".__init__")] = path
    return found


def import_edges(found: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the product modules it imports (the longest known prefix of each name)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in found:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    """`a -> b` for every import of a higher layer, or of the same layer's other package."""
    arrows = []
    for source, targets in graph.items():
        for target in targets:
            same_package = source.split(".")[0] == target.split(".")[0]
            if not same_package and layer_of(target) >= layer_of(source):
                arrows.append(f"{source} -> {target}")
    return sorted(arrows)


def drawn_node(module: str) -> str:
    """The box a module is drawn in: its top package, or bot's sub-package (app, ops, cli,
    research; `bot` for the shared modules beside them)."""
    parts = module.split(".")
    if parts[0] == "bot" and len(parts) > 1 and parts[1] in BOT_ROOMS:
        return f"bot.{parts[1]}"
    return parts[0]


def mermaid(graph: dict[str, set[str]]) -> str:
    """The package-level graph (bot by sub-package) as a Mermaid flowchart."""
    arrows = {(drawn_node(source), drawn_node(target))
              for source, targets in graph.items() for target in targets}
    lines = ["```mermaid", "flowchart TD"]
    lines += [f"    {a.replace('.', '_')}[{a}] --> {b.replace('.', '_')}[{b}]"
              for a, b in sorted(arrows) if a != b]
    lines.append("```")
    return "\n".join(lines)


def main() -> int:
    graph = import_edges(product_modules())
    broken = [f"cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    broken += [f"upward: {arrow}" for arrow in upward_arrows(graph)]
    print("# Import graph\n\nPackage-level imports of the product (an arrow: some module of one imports"
          " some module of the other),\ndrawn by `python -m tests.import_graph > docs/import-graph.md`;"
          " tests/unit/test_import_graph.py\nkeeps it current and checks the rules in"
          " tests/import_graph.py's docstring.\n")
    print(mermaid(graph))
    for line in broken:
        print(line, file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
