# kubeadm-pyinfra: every command a user or CI needs. `make help` lists them.
PYTHON ?= python3
# the console script: `python -m pyinfra` patches gevent too late for paramiko ProxyCommand
PYINFRA ?= $(shell $(PYTHON) -c 'import sys, pathlib; print(pathlib.Path(sys.executable).with_name("pyinfra"))')
INVENTORY ?= inventories/lab.py
TOPOLOGY ?= 3+3
APT_PACKAGES = haproxy keepalived vagrant
export DEBIAN_FRONTEND = noninteractive

VAGRANT ?= vagrant
VAGRANT_PROVIDER ?=

.PHONY: help deps lab deploy lab-down verify test test-fast bench \
        vagrant-up vagrant-deploy vagrant-verify vagrant-down

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: ## install what this machine needs (apt + pip, as root)
	apt-get update -q
	apt-get install -y -q --no-install-recommends $(APT_PACKAGES)
	$(PYTHON) -m lab deps
	$(PYTHON) -m pip install -q -e '.[test,aws]'

lab: deps ## build the local lab (TOPOLOGY=3+3|1+4) and deploy a cluster into it
	$(PYTHON) -m lab up --topology $(TOPOLOGY)
	$(PYINFRA) -y $(INVENTORY) deploys/cluster.py
	$(PYTHON) -m lab status

deploy: ## deploy (or converge) the cluster of INVENTORY
	$(PYINFRA) -y $(INVENTORY) deploys/cluster.py

lab-down: ## stop the lab and remove everything it created
	$(PYTHON) -m lab down

verify: ## check a running cluster: make verify INVENTORY=inventories/lab.py
	$(PYTHON) -m pytest tests/verify --inventory $(INVENTORY) -p no:cacheprovider -n 4 -q

test-fast: ## tests that need no lab (seconds)
	$(PYTHON) -m pytest -m 'not lab'

test: deps ## every test, the lab end to end included (what CI runs)
	$(PYTHON) -m pytest

bench: deps ## lab timings: base build, lab up, converge, no-op re-run
	$(PYTHON) -m lab bench

vagrant-up: ## Vagrant lab: create and boot the VMs (TOPOLOGY=1+4 default or 3+3; VAGRANT_PROVIDER=libvirt|virtualbox)
	$(VAGRANT) up $(if $(VAGRANT_PROVIDER),--provider=$(VAGRANT_PROVIDER))

vagrant-deploy: ## Vagrant lab: deploy (or converge) the cluster into the VMs
	$(PYINFRA) -y inventories/vagrant.py deploys/cluster.py

vagrant-verify: ## Vagrant lab: run the verification suite against the VMs
	$(MAKE) verify INVENTORY=inventories/vagrant.py

vagrant-down: ## Vagrant lab: destroy the VMs
	$(VAGRANT) destroy -f
