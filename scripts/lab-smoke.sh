#!/usr/bin/env bash
# Smoke run of the README's main command on a lab of its own (it never touches
# the user's lab): up, deploy, the example job through Celery and its run page
# in headless Chromium, the fleet picture, deploy again with nothing changed,
# a create-dagster project with a uv.lock by variable and its job, down.
set -euo pipefail
cd "$(dirname "$0")/.."

name=dagster-lab-smoke
state=.lab/$name
nodes_inventory=$state/nodes.yml
lab=(python -m lab --name "$name" --inventory "$nodes_inventory")

cleanup() { "${lab[@]}" down; }
trap cleanup EXIT

"${lab[@]}" up --nodes "${LAB_NODES:-4}" --distro "${LAB_DISTRO:-debian13}"
deploy() { ansible-playbook -i "$nodes_inventory" -i inventories/lab/topology.yml playbooks/lab-ca.yml site.yml "$@"; }

deploy
"${lab[@]}" run-job --job fan_out_job
# The UI in a real browser: the run page shows every step of that run succeeded.
"${lab[@]}" ui-check --job fan_out_job
# RabbitMQ's management UI through the same door: its own login form, answered with the operator's login.
"${lab[@]}" ui-check --broker
# The fleet picture from the live lab: every worker serves its queues, one release everywhere.
"${lab[@]}" fleet --svg "$state/fleet.svg" | tee "$state/fleet.txt"
for worker in node2 node3 node4; do
  grep -q "^$worker .*\[workers\]" "$state/fleet.txt" || { echo "lab-smoke: $worker missing from the fleet" >&2; exit 1; }
done
not_running=$(grep -E "^ +serves " "$state/fleet.txt" | grep -v ": running$" || true)
if [ -n "$not_running" ] || grep -q "^warning:" "$state/fleet.txt"; then
  echo "lab-smoke: the fleet shows a stopped worker or mixed releases" >&2
  exit 1
fi
grep -q "<svg" "$state/fleet.svg"
# The second run through the benchmark harness (its smoke test): timed by phase,
# and it fails if anything changed. Then its report, rendered aside.
if ! python -m bench --results "$state/bench" noop --lab "$name" --inventory "$nodes_inventory" \
  --inventory inventories/lab/topology.yml; then
  cat "$state/bench/logs/$name/noop-$name.log"
  exit 1
fi
python -m bench --results "$state/bench" report --no-readme
echo "lab-smoke: second run of site.yml changed nothing"

# Another Dagster project, by variable only, in create-dagster's layout (src/, hatchling,
# [tool.dg.project], @definitions) with a uv.lock: the release installs the locked versions,
# and its first op fails unless humanize is the lock's 4.9.0 (PyPI has newer ones).
deploy -e "dagster_release_project_dir=$PWD/tests/fixtures/locked_project"
"${lab[@]}" run-job --job locked_job
"${lab[@]}" ui-check --job locked_job
