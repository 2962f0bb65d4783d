"""Files under ``data/`` stay in step with the code that defines them."""

from __future__ import annotations

import json
from pathlib import Path

from findsupport import taxonomy
from findsupport.catalog import demo

DATA = Path(__file__).resolve().parents[2] / "data"


def test_taxonomy_json_matches_the_vocabulary():
    # Regenerate with:  python -c "import json; from findsupport import taxonomy;
    #   print(json.dumps(taxonomy.as_dict(), indent=2, ensure_ascii=False))" > data/taxonomy.json
    assert json.loads((DATA / "taxonomy.json").read_text(encoding="utf-8")) == taxonomy.as_dict()


def test_data_readme_documents_the_demo_settings():
    text = (DATA / "README.md").read_text(encoding="utf-8")
    for fact in ("synthetic", "findsupport demo", "20261129", "example.org", demo.DEMO_MARK):
        assert fact in text
    for group, weight in demo.GROUP_WEIGHTS.items():
        assert f"| {group} | {weight} |" in text
