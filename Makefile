# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# A CPU build of torch first, so that the open `torch>=` range installs nothing heavier.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

# The main job on the bundled example: search from its seed kernel (the tuner alone unless
# KERNELEVOLVE_LLM is set; without a GPU the run stops at its first correct kernel, since the
# interpreter times nothing), print the run, check its best kernel once more and write its report;
# then what the harness does with a broken kernel (a mismatch, and where) and a cheat (refused):
# each of those two must fail its eval, or the demo fails.
DEMO_RUN ?= demo-softmax
demo: venv
	$(VENV)/bin/kernelevolve optimize examples/softmax/problem.py --seed examples/softmax/kernel.py \
		--steps 8 --platform auto --run $(DEMO_RUN)
	$(VENV)/bin/kernelevolve show $(DEMO_RUN)
	$(VENV)/bin/kernelevolve best $(DEMO_RUN) --out .kernelevolve/$(DEMO_RUN)-best.py
	$(VENV)/bin/kernelevolve eval examples/softmax/problem.py .kernelevolve/$(DEMO_RUN)-best.py --platform auto
	$(VENV)/bin/kernelevolve report $(DEMO_RUN)
	@echo; echo "== a broken kernel (its block misses wide rows): diagnosed"
	! $(VENV)/bin/kernelevolve eval examples/softmax/problem.py examples/softmax/broken.py --platform auto
	@echo; echo "== a cheat (PyTorch computes, Triton copies): refused"
	! $(VENV)/bin/kernelevolve eval examples/softmax/problem.py examples/softmax/cheat.py --platform auto

# Two test processes (most tests wait on worker subprocesses); a test file stays in one process, so
# that module fixtures (a Ray instance, a PostgreSQL server) are not started twice.
PYTEST_WORKERS ?= 2
test: venv
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) .kernelevolve
