# One entry point. `make lab` brings up the lab and deploys; `make test` runs the tests (`make test-nfs` the NFS VMs).
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# mitogen's strategy (package mitogen, in the venv) keeps one Python per host for a whole run instead
# of sending every module over: a no-op site.yml on the 4-node lab took 62 s with it, 137 s without
# (README, "What was optimised"). MITOGEN=0 runs Ansible's own linear strategy.
MITOGEN ?= 1
ifeq ($(MITOGEN),1)
export ANSIBLE_STRATEGY := mitogen_linear
export ANSIBLE_STRATEGY_PLUGINS = $(shell ls -d $(VENV)/lib/python3*/site-packages/ansible_mitogen/plugins/strategy 2>/dev/null)
endif

LAB_NODES ?= 4
LAB_DISTRO ?= debian13
LAB_INVENTORY := -i inventories/lab/nodes.yml -i inventories/lab/topology.yml
# The nfs scenario (three VMs under software emulation) runs with `make test-nfs`: on the slower
# CI machine of 2026-12-01 the whole suite with it took about two hours, past CI's 90 minutes.
SCENARIOS ?= services cluster
JOB ?= fan_out_job

.PHONY: bootstrap images node-images test-nfs lab run-job ui-check monitoring alert-check deploy lab-status lab-down fleet test lint unit molecule lab-smoke bench lock

bootstrap:
	@bash scripts/bootstrap-host.sh

images: node-images
	python -m lab vm image

node-images: bootstrap
	python -m lab image

## The main command: lab nodes up, the whole deployment, the example job through Celery, its page in a browser,
## and the monitoring host with every scrape target up.
lab: bootstrap
	python -m lab up --nodes $(LAB_NODES) --distro $(LAB_DISTRO)
	$(MAKE) --no-print-directory deploy
	$(MAKE) --no-print-directory run-job
	$(MAKE) --no-print-directory ui-check
	$(MAKE) --no-print-directory monitoring

run-job:
	python -m lab run-job --job $(JOB)

## The job's newest run page in headless Chromium: every step shown succeeded; screenshot .lab/dagster-lab/ui-run.png.
ui-check:
	python -m lab ui-check --job $(JOB)

# The lab CA (on the controller, in the lab's state directory) issues the front door's certificate.
deploy:
	ansible-playbook $(LAB_INVENTORY) playbooks/lab_ca.yml site.yml

## Prometheus and Alertmanager on node1: waits until every scrape target is up, prints where to look.
monitoring:
	python -m lab monitoring

## Stop the heavy queue's workers, run the job: the alerts fire in Alertmanager, then resolve and the run succeeds.
alert-check:
	python -m lab alert-check

lab-status:
	@python -m lab status

## The lab as it runs (inventory and live state), as text and as .lab/dagster-lab/fleet.svg.
fleet:
	python -m lab fleet --svg .lab/dagster-lab/fleet.svg

lab-down:
	python -m lab down

## Every test but NFS: static checks, lab CLI tests, the container molecule scenarios, a lab smoke run.
test: bootstrap lint unit node-images molecule lab-smoke

## Real NFS in three virtual machines (about 12 to 25 min).
test-nfs: images
	$(MAKE) --no-print-directory molecule SCENARIOS=nfs

lint:
	yamllint --strict .
	ansible-lint --offline --profile production
	ansible-playbook -i inventories/production-example site.yml --syntax-check
	for playbook in playbooks/*.yml; do ansible-playbook -i localhost, "$$playbook" --syntax-check || exit 1; done
	ruff check lab bench scripts tests molecule files roles
	ruff format --check lab bench scripts tests molecule files roles
	mypy --strict lab bench scripts/variable_reference.py scripts/declared_collections.py tests/lab tests/roles tests/bench
	antsibull-changelog lint
	bash scripts/sanity.sh

unit:
	pytest -q tests/lab tests/roles tests/bench

# Each scenario step by step (scripts/molecule-scenario.sh): create and destroy with Ansible's linear
# strategy, where molecule-plugins' playbooks would hang under mitogen; the other steps with mitogen for the
# scenarios in MITOGEN_SCENARIOS (cluster: converge 156 s instead of 225 to 290, idempotence 72 s instead of
# 151). The services scenario stays linear: mitogen made its 40 short preflight runs slower.
MITOGEN_SCENARIOS ?= cluster
export MITOGEN_SCENARIOS
molecule:
	for scenario in $(SCENARIOS); do bash scripts/molecule-scenario.sh $$scenario || exit 1; done

lab-smoke:
	bash scripts/lab-smoke.sh

## Benchmarks (not part of `make test`): labs of their own, results in bench/results, table in the README.
bench: images
	python -m bench all

lock:
	python3 -m venv /tmp/lock-venv && /tmp/lock-venv/bin/pip install -q -r requirements.in
	{ echo "# Generated: pip freeze of requirements.in in a clean venv (Python 3.11). Regenerate with: make lock"; \
	  /tmp/lock-venv/bin/pip freeze; } > requirements.txt
	rm -rf /tmp/lock-venv
