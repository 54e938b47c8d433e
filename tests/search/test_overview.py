"""The node overview shows untrusted text as text: one line each, HTML escaped."""

from __future__ import annotations

from kernelevolve.operators.base import Proposal
from kernelevolve.search.overview import overview_markdown


def test_llm_and_candidate_text_cannot_become_markup_or_headings():
    proposal = Proposal(source="x", operator="llm", reason="faster <img src=x onerror=alert(1)>\n# Pwned",
                        usage={"model": "m<b>", "input_tokens": 10, "output_tokens": 2, "cost_usd": None})
    result = {"status": "mismatch", "reason": "Traceback:\n## not a heading\n<script>", "flags": ["<i>flag</i>"]}
    text = overview_markdown("r", None, proposal, result, 0.0)
    assert "- change: faster &lt;img src=x onerror=alert(1)&gt; # Pwned" in text
    assert "- reason: Traceback: ## not a heading &lt;script&gt;" in text
    assert "- flag: &lt;i&gt;flag&lt;/i&gt;" in text and "m&lt;b&gt;" in text
    assert [line for line in text.splitlines() if line.startswith("#")] == ["# mismatch: llm candidate in run r"]
