# bomix front door. `make demo` runs a full campaign on the embedded simulator; `make test` runs the tests.
# Both build the virtual environment first (CPU torch pinned before anything else pulls a CUDA build).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bomix-installed
# the demo's campaign directory: campaigns/demo for the default policy (mfbo), campaigns/demo-<policy> for
# ARGS="policy=<policy> ...", so that a comparison never lands in (and is refused by) another policy's campaign
DEMO_POLICY = $(or $(patsubst policy=%,%,$(lastword $(filter policy=%,$(ARGS)))),mfbo)
DEMO_DIR ?= campaigns/demo$(if $(filter-out mfbo,$(DEMO_POLICY)),-$(DEMO_POLICY))
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv demo test bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,lightgbm,trainer,slurm,ray,tensorboard,wandb,launchers,report,lightning]'
	# Hydra finds sweeper plugins by scanning hydra_plugins/ folders, which an editable install lacks: link ours
	$(BIN)/python -c "import pathlib, sysconfig; d = pathlib.Path(sysconfig.get_paths()['purelib'], 'hydra_plugins'); d.mkdir(exist_ok=True); l = d / 'bomix_sweeper'; l.unlink(missing_ok=True); l.symlink_to(pathlib.Path('hydra_plugins/bomix_sweeper').resolve())"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bomix run +experiment=demo hydra.run.dir=$(DEMO_DIR) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) campaigns .pytest_cache
