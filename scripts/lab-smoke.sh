#!/usr/bin/env bash
# Smoke run of the README's main command on a lab of its own (it never touches
# the user's lab): up, deploy, the example job through Celery, deploy again
# with nothing changed, another project by variable and its job, down.
set -euo pipefail
cd "$(dirname "$0")/.."

name=dagster-lab-smoke
state=.lab/$name
nodes_inventory=$state/nodes.yml
lab=(python -m lab --name "$name" --inventory "$nodes_inventory")

cleanup() { "${lab[@]}" down; }
trap cleanup EXIT

"${lab[@]}" up --nodes "${LAB_NODES:-4}" --distro "${LAB_DISTRO:-debian13}"
deploy() { ansible-playbook -i "$nodes_inventory" -i inventories/lab/topology.yml site.yml "$@"; }

deploy
"${lab[@]}" run-job --job fan_out_job
# Into a file, then shown: tee to /dev/stderr would truncate a log file that stderr points to.
deploy >"$state/second-run.log"
cat "$state/second-run.log"
changed=$(grep -E '^[A-Za-z0-9_.-]+ +: ok=' "$state/second-run.log" | grep -vE 'changed=0 ' || true)
if [ -n "$changed" ]; then
  echo "lab-smoke: the second run of site.yml changed something:" >&2
  echo "$changed" >&2
  exit 1
fi
echo "lab-smoke: second run of site.yml changed nothing"

# Another Dagster project, by variable only: it deploys and its job runs.
deploy -e "dagster_release_project_dir=$PWD/tests/fixtures/other_project"
"${lab[@]}" run-job --job other_job
