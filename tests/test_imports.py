"""Serving does not import what only training, notebooks and file formats need.

scikit-learn (with the SciPy modules it pulls in), pandas and GeoPandas cost
seconds of every worker's start-up.  Each check runs in a fresh interpreter,
so what the test process already imported does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Imports, then a web app over an empty data dir, then a training import; the heavy modules after each step.
PROGRAM = r"""
import json, sys
HEAVY = ("sklearn", "pandas", "geopandas")
seen = {}
import findsupport.search
seen["import findsupport.search"] = [m for m in HEAVY if m in sys.modules]
import findsupport.web
seen["import findsupport.web"] = [m for m in HEAVY if m in sys.modules]
from findsupport.web import create_app
create_app({"data_dir": sys.argv[1], "cache_dir": sys.argv[2], "rate_limits": "off"}, background=False)
seen["create_app()"] = [m for m in HEAVY if m in sys.modules]
from findsupport.ranking import train_model
seen["training"] = [m for m in HEAVY if m in sys.modules]
print(json.dumps(seen))
"""

#: Why a module is still imported, until its owner moves the import into the function that needs it.
STILL_IMPORTED: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def seen(tmp_path_factory, cache_dir) -> dict[str, list[str]]:
    data_dir = tmp_path_factory.mktemp("imports") / "instance"
    data_dir.mkdir()
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROGRAM, str(data_dir), str(cache_dir)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cases() -> list:
    cases = []
    for step in ("import findsupport.search", "import findsupport.web", "create_app()"):
        for module in ("sklearn", "pandas", "geopandas"):
            reason = STILL_IMPORTED.get((module, step))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(step, module, marks=marks, id=f"{module}-after-{step.split()[-1]}"))
    return cases


@pytest.mark.parametrize(("step", "module"), _cases())
def test_serving_does_not_import_heavy_modules(seen, step, module):
    assert module not in seen[step]


def test_training_still_imports_scikit_learn(seen):
    """The check above is not vacuous: the training path does load scikit-learn."""
    assert "sklearn" in seen["training"]


#: Loads a trained model's document as a server does, scores with it; then what training makes of it.
MODEL_PROGRAM = r"""
import json, sys
import numpy as np
from findsupport.ranking.registry import read_model_file
ranker, document = read_model_file(sys.argv[1])
scores = ranker.decision_function(np.eye(len(document["feature_names"])))
serving = [m for m in ("sklearn", "scipy", "pandas") if m in sys.modules]
from findsupport.ranking import MatchRanker
estimator = MatchRanker.from_serving(ranker)
print(json.dumps({"serving": serving, "scores": scores.tolist(), "alpha": estimator.alpha,
                  "bias": estimator.position_bias_, "training": "sklearn" in sys.modules}))
"""


def test_a_trained_model_serves_without_scikit_learn(tmp_path):
    """Loading and scoring a stored model (what each server does on an activation) needs NumPy only."""
    from findsupport.ranking import FEATURE_NAMES, MatchRanker
    from findsupport.ranking.registry import model_document

    weights = {name: round(0.1 * (j + 1), 1) for j, name in enumerate(FEATURE_NAMES)}
    trained = MatchRanker.from_weights(weights, alpha=0.5)
    trained.position_bias_ = 0.8
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model_document(trained)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", MODEL_PROGRAM, str(path)], capture_output=True, text=True, check=False, timeout=300
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["serving"] == []
    assert got["scores"] == [weights[name] for name in FEATURE_NAMES]
    assert (got["alpha"], got["bias"], got["training"]) == (0.5, 0.8, True)  # the document round-trips to training


# ---------------------------------------------------------------------- the package graph
LAYER_PROGRAM = r"""
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("findsupport", "sklearn", "scipy"))))
"""


def _loaded_by(module: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", LAYER_PROGRAM.format(module=module)], capture_output=True, text=True, check=False, timeout=300
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("module", "must_not_load"),
    [
        # The index serves with the feature definitions only: never the ranking or search packages, nor scikit-learn.
        ("findsupport.index", ("findsupport.ranking", "findsupport.search", "sklearn")),
        # The shared low-level pieces sit below the index, ranking and search.
        ("findsupport.features", ("findsupport.index", "findsupport.ranking", "findsupport.search", "sklearn")),
        ("findsupport.query", ("findsupport.index", "findsupport.ranking", "findsupport.search", "sklearn")),
        # Ranking rebuilds logged queries and features without the engine.
        ("findsupport.ranking.dataset", ("findsupport.search", "findsupport.index")),
        ("findsupport.ranking.sessions", ("findsupport.search", "findsupport.index")),
        ("findsupport.ranking.simulator", ("findsupport.search", "findsupport.index")),
        ("findsupport.search", ("sklearn",)),
        pytest.param(
            "findsupport.index", ("scipy",),
            marks=pytest.mark.xfail(strict=True, reason="numba, which the compiled loops need, imports scipy when it is installed"),
        ),  # fmt: skip
    ],
)
def test_lower_layers_do_not_load_higher_ones(module, must_not_load):
    loaded = _loaded_by(module)
    assert not [m for m in loaded if m.split(".")[0] in must_not_load or any(m == p or m.startswith(p + ".") for p in must_not_load)]


def _package_graph() -> dict[str, set[str]]:
    """Which top-level parts of findsupport import which (every import statement, in functions too)."""
    import ast
    from pathlib import Path

    import findsupport

    root = Path(findsupport.__file__).parent
    parts = {p.stem if p.is_file() else p.name for p in root.iterdir() if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    edges: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        module = path.relative_to(root.parent).with_suffix("").parts
        package = module[:-1]
        if len(module) < 3 and module[-1] == "__init__":
            continue  # the top-level facade re-exports entry points; it is not a layer
        node = module[1]
        for statement in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(statement, ast.ImportFrom):
                base = package[: len(package) - statement.level + 1] if statement.level else ()
                target = (*base, *(statement.module.split(".") if statement.module else ()))
                targets = [target] if statement.module else [(*target, alias.name) for alias in statement.names]
            elif isinstance(statement, ast.Import):
                targets = [tuple(alias.name.split(".")) for alias in statement.names]
            else:
                continue
            for target in targets:
                if len(target) > 1 and target[0] == "findsupport" and target[1] in parts and target[1] != node:
                    edges.setdefault(node, set()).add(target[1])
    return edges


def test_the_package_graph_has_no_cycle():
    """Data flows one way (geo → catalog → features → index/ranking → search → web/CLI); no lazy import hides a cycle."""
    edges = _package_graph()
    assert edges["index"] >= {"features"} and "ranking" in edges["search"]  # the graph is read, not empty
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " → ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
