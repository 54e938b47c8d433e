"""Every llm test starts from an environment with no keys, base URLs, proxies or kernelevolve LLM settings."""

from __future__ import annotations

import pytest

from tests.llm.fake_servers import isolate_llm_env


@pytest.fixture(autouse=True)
def _clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_llm_env(monkeypatch)
