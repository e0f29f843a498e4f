#!/usr/bin/env bash
# One molecule scenario, step by step as `molecule test` runs it: destroy, create, (prepare and) converge,
# idempotence, side effect, verify, destroy, the last also when a step fails. Each step's time is printed.
#
# Create and destroy always run with Ansible's linear strategy: molecule-plugins' playbooks wait on async
# tasks started in a loop, where mitogen hangs. The other steps run with the strategy make exported
# (mitogen's) only for the scenarios named in MITOGEN_SCENARIOS: on `cluster` it took converge from
# 225-290 s to 156 s and the idempotence run from 151 s to 72 s, while on the 40 short refusals of
# `services` it was slower (210 s against 172 s). See docs/testing.md.
set -euo pipefail
scenario=$1
linear=(env -u ANSIBLE_STRATEGY -u ANSIBLE_STRATEGY_PLUGINS)
steps=("${linear[@]}")
if [[ " ${MITOGEN_SCENARIOS:-} " == *" $scenario "* && -n "${ANSIBLE_STRATEGY:-}" ]]; then
  steps=(env)
fi

# molecule_step <action> <strategy prefix...>: one molecule action on the scenario, timed.
molecule_step() {
  local action=$1 started=$SECONDS
  shift
  "$@" molecule "$action" -s "$scenario"
  echo "molecule-scenario: $scenario $action took $((SECONDS - started)) s"
}

# The cluster scenario's nodes share a named volume; remove it so no run sees another's data.
clean() {
  molecule_step destroy "${linear[@]}"
  docker volume rm --force "molecule-$scenario-shared" >/dev/null
}

clean
trap clean EXIT
molecule_step create "${linear[@]}"
for action in converge idempotence side-effect verify; do
  molecule_step "$action" "${steps[@]}"
done
