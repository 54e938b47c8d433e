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

demo: venv
	$(VENV)/bin/kernelevolve eval examples/softmax/problem.py examples/softmax/kernel.py --platform auto

test: venv
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .kernelevolve
