"""The coach developers' notebooks run top to bottom on a small demo data dir (nbclient, real kernel).

They are committed without outputs, import only the public API and hold no
helper code; here they run in the ``python3`` kernel of this environment with
a non-interactive matplotlib backend, pointed at a temporary data dir through
``FINDSUPPORT_DATA_DIR``.  Their first cell is also run the way a coach
developer starts them (the kernel inside ``notebooks/``, a data dir relative to
the top of the checkout), and on an empty data dir, which must stop at once
with a clear error.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from findsupport.cli import main
from findsupport.ranking import FEATURE_DESCRIPTIONS
from findsupport.config import load_settings
from findsupport.ranking import active_version, list_models

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
NAMES = ("tune_weights.ipynb", "explore_matches.ipynb", "coverage.ipynb")
#: Small data so both notebooks run in seconds.
DEMO_PROVIDERS = 500
SESSIONS = 1500
#: Simulated searches of the coverage notebook: enough for a few regions to publish figures.
COVERAGE_SESSIONS = 4000
#: Generous: a cold kernel start with scikit-learn, geopandas and matplotlib imports.
CELL_TIMEOUT_S = 300
#: What a notebook may import: the findsupport public API and the usual analysis libraries.
ALLOWED_IMPORTS = {
    "findsupport", "findsupport.config", "findsupport.coverage", "findsupport.ranking", "findsupport.catalog", "findsupport.geo", "findsupport.search",
    "os", "pathlib", "json", "numpy", "pandas", "matplotlib.pyplot", "geopandas", "shapely.geometry", "sklearn",
    "sklearn.model_selection",
}


def code_cells(name: str) -> list[str]:
    return [c.source for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", NAMES)
def test_public_api_only_and_no_helper_code(name):
    for source in code_cells(name):
        tree = ast.parse(source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Lambda)), "helpers belong in the package"
            if isinstance(node, ast.Import):
                assert {a.name for a in node.names} <= ALLOWED_IMPORTS
            if isinstance(node, ast.ImportFrom):
                assert node.module in ALLOWED_IMPORTS, node.module
                assert not any(a.name.startswith("_") for a in node.names)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    data = tmp_path_factory.mktemp("notebooks") / "instance"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FINDSUPPORT_CACHE_DIR", str(cache_dir))
        mp.delenv("FINDSUPPORT_CONFIG", raising=False)
        assert main(["--data-dir", str(data), "--quiet", "demo", "--providers", str(DEMO_PROVIDERS)]) == 0
    return data


@pytest.fixture
def kernel_env(demo_data: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The kernel process inherits this environment.
    monkeypatch.setenv("FINDSUPPORT_DATA_DIR", str(demo_data))
    monkeypatch.setenv("FINDSUPPORT_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("FINDSUPPORT_NOTEBOOK_SESSIONS", str(SESSIONS))
    monkeypatch.setenv("FINDSUPPORT_COVERAGE_SESSIONS", str(COVERAGE_SESSIONS))
    # Non-interactive: figures become PNG outputs of their cells, nothing opens a window.
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("FINDSUPPORT_FEEDBACK", raising=False)
    monkeypatch.delenv("FINDSUPPORT_CONFIG", raising=False)
    return demo_data


def run(name: str, workdir: Path, *, code_cells: int | None = None) -> nbformat.NotebookNode:
    """Execute notebook ``name`` in a kernel started in ``workdir`` (only its first ``code_cells`` code cells if given)."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    if code_cells is not None:
        last = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"][code_cells - 1]
        notebook.cells = notebook.cells[: last + 1]
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return notebook


def text_of(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def html_of(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(output.get("data", {}).get("text/html", "") for cell in notebook.cells for output in cell.get("outputs", []))


def gain_chart_label(notebook: nbformat.NotebookNode) -> str:
    """The source of the cell that draws the NDCG chart (its axis label says what is plotted)."""
    return next(cell.source for cell in notebook.cells if cell.cell_type == "code" and "evaluation.table()" in cell.source)


def images_in(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def test_tune_weights_runs_and_publishes_a_model(kernel_env: Path, tmp_path: Path):
    notebook = run("tune_weights.ipynb", tmp_path)
    text = text_of(notebook)
    assert "using 1,500 SIMULATED sessions" in text  # an empty log says so and falls back to simulation
    assert "nearest first" in text and "trained" in text
    assert images_in(notebook) >= 3  # positions, NDCG gains, weights and contributions
    # Issue 12: the gain with its bootstrap interval, splits by mode and role, before/after top tens,
    # plain-language feature names and the weight-sign check.
    assert "gain over the default weights" in gain_chart_label(notebook)
    assert "NDCG@10 by mode" in text and "NDCG@10 by role" in text and "behind in-person searches" in text
    assert "before (default weights)" in html_of(notebook) and "after (trained)" in html_of(notebook)
    assert "WARNING:" in text or "no learned weight has a surprising sign" in text
    # The weights table names every feature in plain words (pandas cuts long labels short).
    assert all(description[:30] in text for description in FEATURE_DESCRIPTIONS.values())
    # Saved with its provenance, never activated: running top to bottom must not change what
    # a server serves (issue 12), and a simulated model is never activated from a notebook.
    settings = load_settings({"data_dir": kernel_env}, environ={})
    saved = list_models(settings)
    assert len(saved) == 1 and saved[0].provenance["kind"] == "simulated"
    assert "not activated" in text and "provenance: simulated" in text
    assert active_version(settings) == "default"


def test_explore_matches_runs_and_maps_the_results(kernel_env: Path, tmp_path: Path):
    notebook = run("explore_matches.ipynb", tmp_path)
    text = text_of(notebook)
    assert "providers match" in text and "km away" in text
    assert images_in(notebook) >= 2  # the map and the contributions
    # A recognisable background: the postcode districts around the search, named, with the attribution.
    drawn = re.search(r"([\d,]+) postcode districts drawn; Contains OS data", text)
    assert drawn and int(drawn.group(1).replace(",", "")) >= 5
    assert "in_person (" in html_of(notebook) and "online (" in html_of(notebook)  # the same search by mode


def test_coverage_maps_unmet_demand_and_lists_where_to_recruit(kernel_env: Path, tmp_path: Path):
    notebook = run("coverage.ipynb", tmp_path)
    text = text_of(notebook)
    assert "using 4,000 SIMULATED sessions" in text and "district outlines" in text
    assert images_in(notebook) >= 2  # unmet searches by district, and by event group and region
    assert "the ten districts where one more jumps mentor would serve the most unmet searches" in text
    listing = text[text.index("the ten districts"):]
    assert "unmet_searches_in_reach" in listing and "rank" in listing
    assert "<5" in text  # the notebook's tables are the suppressed ones


@pytest.mark.parametrize("name", NAMES)
def test_a_relative_data_dir_means_the_projects_one(name, kernel_env: Path, monkeypatch: pytest.MonkeyPatch):
    # `FINDSUPPORT_DATA_DIR=<relative> jupyter lab notebooks/`: the kernel runs inside notebooks/,
    # and the relative path is read from the top of the checkout, as in the shell there.
    relative = os.path.relpath(kernel_env, REPO)
    monkeypatch.setenv("FINDSUPPORT_DATA_DIR", relative)
    text = text_of(run(name, NOTEBOOKS, code_cells=1))
    listed = re.search(r"(\d[\d,]*) providers", text)
    assert listed and 0 < int(listed.group(1).replace(",", "")) <= DEMO_PROVIDERS, text
    assert not (NOTEBOOKS / relative).exists()  # nothing made inside notebooks/


def test_an_empty_data_dir_stops_at_once_with_a_clear_error(kernel_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    empty = tmp_path / "empty-instance"
    monkeypatch.setenv("FINDSUPPORT_DATA_DIR", str(empty))
    with pytest.raises(CellExecutionError) as raised:
        run("explore_matches.ipynb", tmp_path, code_cells=1)
    assert "EmptyCatalog" in str(raised.value)
    assert f"findsupport --data-dir {empty} demo" in str(raised.value)
