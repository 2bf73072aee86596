"""docs/equations.md stays true: every file it names exists and holds every function or class named beside it."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_equation_points_at_code_that_exists():
    text = (ROOT / "docs" / "equations.md").read_text(encoding="utf-8")
    pairs = 0
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        # "`emohead/x.py` · `name`, `Other.method`; `emohead/y.py` · ..." -> (file, [names])
        for path, names in re.findall(r"`(emohead/[\w/]+\.py)`((?:\s*·\s*`[\w.]+`(?:,\s*`[\w.]+`)*)?)", line):
            source = (ROOT / path).read_text(encoding="utf-8")
            for name in re.findall(r"`([\w.]+)`", names):
                top = name.split(".")[0]
                assert re.search(rf"^(def|class) {top}\b", source, re.M), f"{path} has no {top} (docs/equations.md)"
                if "." in name:
                    assert re.search(rf"def {name.split('.')[1]}\b", source), f"{path} has no {name}"
                pairs += 1
    assert pairs >= 30, pairs


def test_docs_are_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert doc.name in readme, f"README.md does not mention docs/{doc.name}"
