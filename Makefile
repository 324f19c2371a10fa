# kubeadm-pyinfra: every command a user or CI needs. `make help` lists them.
# Everything runs from the project's own virtual environment (.venv), made with the
# distribution's Python: a stock Debian refuses `pip install` into the system Python (PEP 668).
SYSTEM_PYTHON ?= /usr/bin/python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# the console script: `python -m pyinfra` patches gevent too late for paramiko ProxyCommand
PYINFRA := $(VENV)/bin/pyinfra
INVENTORY ?= inventories/lab.py
TOPOLOGY ?= 3+3
export DEBIAN_FRONTEND = noninteractive
APT_INSTALL = apt-get install -y -q --no-install-recommends

VAGRANT ?= vagrant
VAGRANT_PROVIDER ?=

.PHONY: help venv deps test-deps vagrant-deps lab deploy lab-down verify drills test test-fast bench \
        vagrant-up vagrant-deploy vagrant-verify vagrant-down mutation

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(PYTHON):
	$(SYSTEM_PYTHON) -m venv $(VENV) || { rm -rf $(VENV); apt-get update -q && $(APT_INSTALL) python3-venv \
		&& $(SYSTEM_PYTHON) -m venv $(VENV); }
	$(PYTHON) -m pip install -q --upgrade pip

venv: $(PYTHON) ## the project's virtual environment (.venv) from the system Python

deps: $(PYTHON) ## what the lab and a deploy need (apt + pip into .venv, as root)
	$(PYTHON) -m pip install -q -e .
	$(PYTHON) -m lab deps

vagrant-deps: ## Vagrant (only for the Vagrant targets and their tests)
	@command -v $(VAGRANT) >/dev/null || { apt-get update -q && $(APT_INSTALL) vagrant; }

test-deps: deps vagrant-deps ## what every test needs: test tools, the AWS SDK, haproxy/keepalived for config checks, etcd for the stand-in tests
	@command -v haproxy >/dev/null && command -v keepalived >/dev/null && command -v etcd >/dev/null \
		|| { apt-get update -q && $(APT_INSTALL) haproxy keepalived etcd-server etcd-client \
		&& { systemctl disable --now etcd 2>/dev/null || true; }; }
	$(PYTHON) -m pip install -q -e '.[test,aws]'

lab: deps ## build the local lab (TOPOLOGY=3+3|1+4) and deploy a cluster into it
	$(PYTHON) -m lab up --topology $(TOPOLOGY)
	$(PYINFRA) -y $(INVENTORY) deploys/cluster.py
	$(PYTHON) -m lab status

deploy: ## deploy (or converge) the cluster of INVENTORY
	$(PYINFRA) -y $(INVENTORY) deploys/cluster.py

lab-down: ## stop the lab and remove everything it created
	$(PYTHON) -m lab down

verify: test-deps ## check a running cluster: make verify INVENTORY=inventories/lab.py
	$(PYTHON) -m pytest tests/verify --inventory $(INVENTORY) -p no:cacheprovider -n 4 -q

drills: test-deps ## drills on any cluster: make drills INVENTORY=FILE [DESTRUCTIVE=1] [UPGRADE_TO=1.37.1]
	$(PYTHON) -m pytest tests/field --inventory $(INVENTORY) $(if $(DESTRUCTIVE),--destructive) \
		$(if $(UPGRADE_TO),--upgrade-to $(UPGRADE_TO)) -p no:cacheprovider -s -q -rs

test-fast: test-deps ## tests that need no lab (seconds)
	$(PYTHON) -m pytest -m 'not lab'

test: test-deps ## every test, the lab end to end included (what CI runs)
	$(PYTHON) -m pytest

MUTANTS ?=
SAMPLE ?=
SEED ?= 15
WORKERS ?= 1
mutation: test-deps ## mutation testing of deploys/ (mutmut): share of mutants killed, fails under 85% (MUTANTS=glob SAMPLE=n SEED=s WORKERS=n)
	$(PYTHON) -m pip install -q -e '.[mutation]'
	$(PYTHON) tests/mutation.py --workers $(WORKERS) --seed $(SEED) $(if $(SAMPLE),--sample $(SAMPLE)) $(if $(MUTANTS),--mutants '$(MUTANTS)')

bench: deps ## lab timings: base build, lab up, converge, no-op re-run
	$(PYTHON) -m lab bench

vagrant-up: vagrant-deps ## Vagrant lab: create and boot the VMs (TOPOLOGY=1+4 default or 3+3; VAGRANT_PROVIDER=libvirt|virtualbox)
	$(VAGRANT) up $(if $(VAGRANT_PROVIDER),--provider=$(VAGRANT_PROVIDER))

vagrant-deploy: ## Vagrant lab: deploy (or converge) the cluster into the VMs
	$(PYINFRA) -y inventories/vagrant.py deploys/cluster.py

vagrant-verify: test-deps ## Vagrant lab: run the verification suite against the VMs
	$(MAKE) verify INVENTORY=inventories/vagrant.py

vagrant-down: ## Vagrant lab: destroy the VMs
	$(VAGRANT) destroy -f
