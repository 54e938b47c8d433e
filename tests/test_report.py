"""`kernelevolve report RUN`: the page of a real run (a seed, LLM replies from a loopback server —
one of them hostile, one broken — and the tuner, judged on the interpreter), read as HTML and
opened in a headless chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from kernelevolve.cli import app
from kernelevolve.config import OptimizeConfig
from kernelevolve.eval.result import EvalResult, ShapeTiming, Status, TimingStop
from kernelevolve.graph import source_hash
from kernelevolve.problem import load_problem
from kernelevolve.report import render
from kernelevolve.report.facts import gather
from kernelevolve.search.optimize import assemble, execute
from kernelevolve.store import NewNode, open_store
from tests.llm.fake_servers import ENV_VARS, OpenAIServer, Reply

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"
BROKEN = (ROOT / "tests" / "eval" / "kernels" / "syntax_error.py").read_text()
# What an attacker would put in a kernel or a reply: each must reach the page as text.
HOSTILE = "</script><script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
HOSTILE_KERNEL = f"# {HOSTILE}\n" + SEED.read_text()
REQUIRE_BROWSER = "KERNELEVOLVE_REQUIRE_BROWSER"
COMMAND = "kernelevolve optimize scale_add.py --seed seed_scale_add.py --llm openai:test-model --run page"


def fenced(change: str, code: str) -> str:
    return f"Change: {change}\n\n```python\n{code}\n```\n"


@pytest.fixture(scope="session")
def made_run(tmp_path_factory, interpreter_harness):
    """One run for every test here, made as ``optimize`` makes it (on the session's warm harness):
    a seed, a hostile LLM kernel that is correct, one that does not parse, the tuner; then its page."""
    where = tmp_path_factory.mktemp("report-run")
    url = f"sqlite:///{where / 'store.db'}"
    script = [Reply(text=fenced(f"a comment {HOSTILE}", HOSTILE_KERNEL), input_tokens=1200, output_tokens=300),
              Reply(text=fenced("a missing colon", BROKEN), input_tokens=1500, output_tokens=280)]
    with OpenAIServer(script=script, respond=lambda request: Reply(text=fenced("again", HOSTILE_KERNEL))) as server, \
            pytest.MonkeyPatch.context() as env:
        for name in ENV_VARS:
            env.delenv(name, raising=False)
        env.setenv("OPENAI_BASE_URL", server.base_url)
        env.setenv("OPENAI_API_KEY", "sk-loopback")
        env.setenv("KERNELEVOLVE_LLM_PRICES", json.dumps({"test-model": {"input": 2.0, "output": 8.0}}))
        config = OptimizeConfig(problem=PROBLEM, seeds=[SEED], llm=["openai:test-model"], steps=4, llm_fraction=0.6,
                                platform="interpreter", search_untimed=True, store=url, run="page", command=COMMAND)
        with open_store(url) as store:
            execute(assemble(config, load_problem(PROBLEM), interpreter_harness, store))
    made = CliRunner().invoke(app, ["report", "page", "--store", url, "--out", str(where / "reports")])
    assert made.exit_code == 0, made.output
    return url, where / "reports" / "page.html"


def test_the_page_names_the_run_its_command_and_what_is_not_recorded(made_run):
    _, page = made_run
    text = page.read_text()
    assert f"<code>{COMMAND}</code>" in text  # the command recorded with the run
    assert "the interpreter proves correctness, not speed" in text
    assert "copy ceiling" not in text or "not recorded" in text
    assert text.count('class="node-panel"') == 4
    assert "No diagnosis, prompt or reply: the tuner" in text
    assert "syntax_error" in text and "diagnosis.md" in text and "prompt.md" in text and "reply.md" in text
    assert "<svg" in text and "plots need matplotlib" not in text


def test_untrusted_text_stays_text(made_run):
    _, page = made_run
    text = page.read_text()
    assert HOSTILE not in text
    assert escape(HOSTILE) in text  # the kernel, its diff and the reply show it as text
    assert text.count("<script>") == 1 and "<img" not in text
    assert "pwned" not in text.split("<script>")[1]  # the page's own script


def test_the_policy_lets_only_the_page_script_run_and_fetches_nothing(made_run):
    _, page = made_run
    text = page.read_text()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1)
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    assert not re.search(r'(src|href)="(https?:)?//', text)


def test_without_matplotlib_the_page_says_how_to_get_its_plots(made_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what Python sees where it is not installed
    with open_store(made_run[0], read_only=True) as store:
        text = render(gather(store, store.get_run("page")))
    assert "The plots need matplotlib" in text and "pip install &#39;kernelevolve[report]&#39;" in text
    assert '<svg class="graph"' in text and "<svg xmlns:xlink" not in text  # the graph stays; plots are gone


def test_unknown_run_and_file_as_out_are_one_sentence(made_run, tmp_path):
    url, _ = made_run
    unknown = CliRunner().invoke(app, ["report", "nope", "--store", url, "--out", str(tmp_path)])
    assert unknown.exit_code == 2 and "no run named 'nope'" in unknown.stderr
    (tmp_path / "file").write_text("")
    as_file = CliRunner().invoke(app, ["report", "page", "--store", url, "--out", str(tmp_path / "file")])
    assert as_file.exit_code == 2 and "is a file" in as_file.stderr


def test_timed_shapes_show_speedups_bandwidth_and_the_faster_variant(tmp_path):
    """A run as a GPU would record it (timings per shape), written through the store."""
    with open_store(f"sqlite:///{tmp_path / 'gpu.db'}") as store:
        run = store.ensure_run("timed", str(PROBLEM), "0" * 64, "cuda", {"steps": 4})
        assert "The run has no nodes yet" in render(gather(store, run))
        ids = store.reserve_node_ids(4)

        def result(a_ms: float, b_ms: float, **more) -> dict:
            timings = [ShapeTiming(shape="a", candidate_ms=a_ms, eager_ms=2.0, compile_ms=1.0, speedup=1.0 / a_ms,
                                   speedup_eager=2.0 / a_ms, extra_baselines_ms={"cublas": 0.8}, gbps=1500.0,
                                   fraction_of_peak_bandwidth=0.31, method="cuda-events"),
                       ShapeTiming(shape="b", candidate_ms=b_ms, eager_ms=4.0, compile_ms=3.0, speedup=3.0 / b_ms,
                                   speedup_eager=4.0 / b_ms, gbps=900.0, method="cuda-events")]
            return EvalResult(status=Status.ok, correct=True, device="NVIDIA H200", timings=timings,
                              versions={"torch": "2.11"}, timing_method="cuda-events", **more).model_dump(mode="json")

        node = NewNode(id=ids[0], parent_id=None, operator="seed", source="seed", result=result(0.5, 1.0),
                       score=2.45, is_buggy=False, status="ok")
        store.add_nodes_bulk(run.id, [
            node, replace(node, id=ids[1], parent_id=ids[0], operator="tuner", source="tuned",
                          result=result(0.4, 2.0), score=1.9),
            replace(node, id=ids[2], parent_id=ids[0], operator="llm", source="bad", score=0.0, is_buggy=True,
                    status="mismatch", result={"status": "mismatch", "reason": "3 of 4096 elements off"}),
            replace(node, id=ids[3], parent_id=ids[1], operator="tuner", source="tuned again", score=1.2,
                    result=result(0.6, 2.5, phases={"compile_s": 1.25, "time_s": 0.5}, duplicate_of=source_hash("seed"),
                                  timing_stopped=TimingStop(shape="a", node=ids[0], candidate_ms=0.6, incumbent_ms=0.5,
                                                            untimed=["b"]))),
        ])
        store.set_run_status(run.id, "running")
        text = render(gather(store, store.get_run("timed"), copy_gbps=3000.0))
        retimed = store.ensure_run("timed.cuda", str(PROBLEM), "0" * 64, "cuda", {"retime_of": "timed"})
        store.add_nodes_bulk(retimed.id, [replace(node, id=store.reserve_node_ids(1)[0], tags={"retimed_from": ids[1]})])
        retimed_text = render(gather(store, retimed))
    assert f"none here: node {ids[1]} of run timed, evaluated again on cuda" in retimed_text
    assert "not recorded with this run" in retimed_text  # retime keeps no command line
    assert "still running when the report was made" in text and "of 4 steps planned" in text
    assert "4.00x" in text and "2.00x" in text and "1.60x" in text  # node 1 at shape a: vs eager, compile, cublas
    assert "1500" in text and "31%" in text and "50%" in text  # GB/s, of peak, of the 3000 GB/s copy ceiling
    assert f"node {ids[1]}</button>: 0.4000 ms, 2.00x vs cublas" in text  # the tuner's variant: fastest at shape a
    assert "3 of 4096 elements off" in text
    assert "compile 1.25 s, time 0.50 s" in text and f"node {ids[0]}</button>'s did" in text  # phases, duplicate
    assert "Early stop: timing stopped after shape a: 1.20x the time" in text


@pytest.fixture(scope="session")
def browser():
    """A headless chromium through selenium, or a skip (a failure under KERNELEVOLVE_REQUIRE_BROWSER=1);
    session-scoped so that it is decided before the run is made."""
    why = None
    try:
        from selenium import webdriver
    except ImportError:
        why = "selenium is not installed (pip install -e '.[dev]')"
    driver_path, browser_path = shutil.which("chromedriver"), shutil.which("chromium")
    if why is None and (driver_path is None or browser_path is None):
        why = "no chromium or chromedriver on PATH (apt-get install chromium chromium-driver)"
    if why is not None:
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"a browser is required here ({REQUIRE_BROWSER}=1): {why}", pytrace=False)
        pytest.skip(why)
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def test_in_a_browser_plots_and_graph_render_and_a_click_shows_the_kernel(browser, made_run, tmp_path):
    from selenium.webdriver.common.by import By

    _, page = made_run
    driver = browser
    driver.get(page.resolve().as_uri())
    assert driver.title == "kernelevolve: run page"  # no injected script retitled it
    for section in ("progress", "failures", "usage"):
        svg = driver.find_element(By.CSS_SELECTOR, f"#{section} .plot svg")
        assert svg.size["width"] > 200 and svg.size["height"] > 100
    marks = driver.find_elements(By.CSS_SELECTOR, "svg.graph g.mark")
    assert len(marks) == 4 and all(m.find_element(By.TAG_NAME, "circle").size["width"] > 0 for m in marks)
    visible = [p for p in driver.find_elements(By.CSS_SELECTOR, "section.node-panel") if p.is_displayed()]
    assert len(visible) == 1  # the best node, shown at load
    with open_store(made_run[0], read_only=True) as store:
        nodes = store.nodes(store.get_run("page").id)
    hostile = next(n for n in nodes if HOSTILE in n.kernel_path.read_text())
    driver.find_element(By.CSS_SELECTOR, f'svg.graph g.mark[data-select="{hostile.id}"]').click()
    panel = driver.find_element(By.ID, f"node-{hostile.id}")
    assert panel.is_displayed() and driver.find_element(By.ID, "chosen").text == f"node {hostile.id}"
    assert HOSTILE in panel.find_element(By.CSS_SELECTOR, "pre.code").text
    assert not panel.find_elements(By.TAG_NAME, "img") and driver.title == "kernelevolve: run page"
    failed = driver.find_elements(By.CSS_SELECTOR, "#failures button[data-select]")[-1]  # the syntax_error row
    failed.click()
    panel = driver.find_element(By.ID, f"node-{failed.get_attribute('data-select')}")
    assert panel.is_displayed() and "SyntaxError" in panel.text
    driver.save_screenshot(str(tmp_path / "report.png"))
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
