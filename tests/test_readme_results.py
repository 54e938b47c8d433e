"""The README's result tables are copies of saved benchmark files, never typed by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_results", ROOT / "benchmarks" / "readme_results.py")
readme_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_results)


def test_readme_tables_match_the_saved_results():
    text = (ROOT / "README.md").read_text()
    assert "<!-- results: " in text
    assert readme_results.render(text) == text, "run python benchmarks/readme_results.py"


def test_a_block_is_replaced_by_the_file_without_its_title(tmp_path):
    (tmp_path / "r.md").write_text("# title\n\n| a |\n| 1 |\n")
    text = "before\n<!-- results: r.md -->\nstale 9.9x\n<!-- /results -->\nafter\n"
    out = readme_results.render(text, tmp_path)
    assert "stale" not in out and "| 1 |" in out and "title" not in out
    assert out.startswith("before\n") and out.endswith("<!-- /results -->\nafter\n")
    assert readme_results.render(out, tmp_path) == out
