"""The architecture, read from the source: imports run one way (lazy ones included), no module
over 400 lines, and training never branches on a model family's name."""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: source folder -> the package it is installed as
PACKAGES = {
    "vae_zoo": "vae_zoo",
    "training": "vae_zoo.training",
    "export": "vae_zoo.export",
    "serving": "serving",
}
#: the dependency order, lowest first: a module may import its own layer or a lower one, never a higher one
LAYERS = [
    ("vae_zoo.utils", "vae_zoo.version"),
    ("vae_zoo.distributions", "vae_zoo.text"),
    ("vae_zoo.presets",),  # found through Keras's registry: never imports models (see README "Layout")
    ("vae_zoo.models",),
    ("vae_zoo.datasets", "vae_zoo.evaluation", "vae_zoo.saved_passes", "vae_zoo.plots"),
    (
        "vae_zoo.kinds",
    ),  # a data kind: loads, batches, evaluates, publishes its data (asks datasets, evaluation, plots)
    ("vae_zoo.training", "vae_zoo.export", "serving"),
    ("vae_zoo.cli", "vae_zoo"),
]


def _modules():
    """`{module name: path}` of every source file."""
    modules = {}
    for folder, package in PACKAGES.items():
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                relative = os.path.relpath(os.path.join(root, name), os.path.join(REPO, folder))[:-3].split(
                    os.sep
                )
                if relative[-1] == "__init__":
                    relative = relative[:-1]
                modules[".".join([package, *relative])] = os.path.join(root, name)
    return modules


MODULES = _modules()


def _imports(module, path):
    """Modules of the project that `module` imports anywhere in its file (inside functions too)."""
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer(module):
    best = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return best[0]


def test_the_walker_sees_lazy_and_relative_imports():
    assert "vae_zoo.utils.checksums" in GRAPH["vae_zoo.datasets.sources"]  # imported inside a function
    assert "serving.client.common" in GRAPH["serving.client.rest"]  # a relative import
    assert "vae_zoo.models.vae" in GRAPH["vae_zoo.models.dense"]


def test_no_import_cycles():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_run_one_way():
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_no_module_over_400_lines():
    long = {module: n for module, path in MODULES.items() if (n := len(open(path).read().splitlines())) > 400}
    assert not long, long


def test_training_never_branches_on_a_family_name():
    import vae_zoo

    names = set(vae_zoo.models.FAMILIES)
    hits = []
    for module, path in MODULES.items():
        if not module.startswith("vae_zoo.training"):
            continue
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Compare):
                values = [node.left, *node.comparators]
                for value in values:
                    elements = value.elts if isinstance(value, (ast.Tuple, ast.List, ast.Set)) else [value]
                    hits += [
                        f"{path}:{node.lineno}"
                        for e in elements
                        if isinstance(e, ast.Constant) and e.value in names
                    ]
    assert not hits, hits


@pytest.mark.parametrize(
    "module", ["vae_zoo.models.vae", "vae_zoo.presets.loader", "vae_zoo.distributions.registry"]
)
def test_lower_layers_do_not_know_the_families(module):
    assert not any(
        target.startswith(("vae_zoo.training", "vae_zoo.export", "vae_zoo.cli")) for target in GRAPH[module]
    )
