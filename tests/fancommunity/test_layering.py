"""The dependency direction, enforced: every import in the project is read, function-level ones too.

    top layer (views, admin, API, tasks, commands, webhooks, urls, forms, the console, entry points)
        -> privacy -> conversations -> sending -> campaigns -> audience -> sms -> consent -> accounts

A module may import its own layer or any layer below it, never one above, and the import graph has
no cycles. The top layer may import anything. The sandbox stands alone (it runs without Django).
The map and the reasons are in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accounts", "consent", "messaging", "fancommunity")

# Lowest first. A module belongs to the longest prefix that names it.
LAYERS = [
    "accounts",
    "consent",
    "messaging.sms",
    "messaging.audience",
    "messaging.campaigns",
    "messaging.sending",
    "messaging.automations",
    "messaging.conversations",
    "messaging.privacy",
]
TOP = len(LAYERS)
# The top layer: modules people and machines call into (named by their last part or a package).
TOP_NAMES = {"views", "admin", "api", "api_auth", "urls", "apps", "tasks", "signals", "forms", "admin_scoping"}
TOP_NAMES |= {"keyword_admin", "drop_admin"}  # issue 14: console pages of messaging/automations
TOP_NAMES |= {"me_views"}  # issue 14: accounts/views.py split by page (/me/ in accounts/me_views.py)

TOP_SUFFIXES = ("_admin",)  # console pages of one area of a package (messaging/automations/series_admin.py)
TOP_PACKAGES = ("fancommunity", "messaging.webhooks", "messaging.console", "messaging.templatetags")
TOP_MODULES = {
    "messaging.models",  # the registry Django loads; domain code imports its own package's models
    "messaging.outbound",  # task entry points stored in queues (old dotted paths)
    "messaging.reconsent",
    "messaging.encoding",  # the one re-export kept for callers of messaging.encoding.segment_info
}
SANDBOX = "messaging.sandbox"


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def layer_of(module: str) -> int:
    parts = module.split(".")
    if module == SANDBOX or module.startswith(SANDBOX + "."):
        return -1  # stands alone: checked on its own in direction_violations
    if (
        module == "messaging"
        or module in TOP_MODULES
        or parts[-1] in TOP_NAMES
        or "admin" in parts[:-1]  # a console package split by area (messaging/audience/admin/)
        or parts[-1].endswith(TOP_SUFFIXES)
        or "management" in parts
        or any(module == p or module.startswith(p + ".") for p in TOP_PACKAGES)
    ):
        return TOP
    best = -1
    for index, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            best = index
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS or the top layer in {__file__}")
    return best


def imports_of(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """Every project module `path` imports, at any depth of the file (functions included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the submodule when there is one, else a name of pkg.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


@functools.cache
def _parsed_graph() -> dict[str, frozenset[str]]:
    modules = project_modules()
    return {module: frozenset(imports_of(path, module, modules)) for module, path in modules.items()}


def import_graph() -> dict[str, set[str]]:
    """Every project file is parsed once per test run (six tests read the graph; parsing it took
    ~1 s each on a quiet machine); each caller gets its own copy to change."""
    return {module: set(targets) for module, targets in _parsed_graph().items()}


def direction_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if module.startswith(SANDBOX):
                if not target.startswith(SANDBOX):
                    bad.append(f"{module} -> {target} (the sandbox imports nothing of the app)")
                continue
            if target.startswith(SANDBOX) and layer_of(module) != TOP:
                bad.append(f"{module} -> {target} (only the top layer starts the sandbox)")
                continue
            if layer_of(target) > layer_of(module):
                bad.append(
                    f"{module} -> {target} (layer {_name(layer_of(module))} may not import {_name(layer_of(target))})"
                )
    return bad


def _name(layer: int) -> str:
    return "top" if layer == TOP else LAYERS[layer]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_import_follows_the_direction():
    assert direction_violations(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_every_module_has_a_layer():
    for module in project_modules():
        layer_of(module)


@pytest.mark.parametrize(
    "module, source, expected",
    [
        # An import against the direction, hidden in a function, is caught ...
        (
            "messaging.sms.parts",
            "def f():\n    from messaging.sending.engine import campaign_start\n",
            "may not import",
        ),
        # ... and so is a service reaching for the task layer.
        ("messaging.audience.imports", "from messaging import tasks\n", "may not import"),
        ("consent.services", "import messaging.audience.services\n", "may not import"),
        # Issue 13: the campaign report shows the poll through a registered section, never by import.
        (
            "messaging.campaigns.reports",
            "def f():\n    from messaging.conversations.polls import poll_figures\n",
            "may not import",
        ),
    ],
)
def test_the_checker_catches_a_wrong_import(tmp_path, module, source, expected):
    graph = import_graph()
    path = tmp_path / "probe.py"
    path.write_text(source)
    graph[module] = graph[module] | imports_of(path, module, project_modules())
    assert any(expected in line for line in direction_violations(graph))


def test_the_checker_catches_a_cycle():
    graph = import_graph()
    graph["messaging.sending.models"] = graph["messaging.sending.models"] | {"messaging.sending.engine"}
    assert any("messaging.sending.engine" in c and "messaging.sending.models" in c for c in cycles(graph))
