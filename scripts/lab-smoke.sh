#!/usr/bin/env bash
# Smoke run of the lab as the README uses it, on a lab of its own (it never
# touches the user's lab): up, deploy, deploy again with nothing changed, down.
set -euo pipefail
cd "$(dirname "$0")/.."

name=dagster-lab-smoke
state=.lab/$name
nodes_inventory=$state/nodes.yml
lab=(python -m lab --name "$name" --inventory "$nodes_inventory")

cleanup() { "${lab[@]}" down; }
trap cleanup EXIT

"${lab[@]}" up --nodes "${LAB_NODES:-4}" --distro "${LAB_DISTRO:-debian13}"
deploy() { ansible-playbook -i "$nodes_inventory" -i inventories/lab/topology.yml site.yml; }

deploy
second_run=$(deploy | tee /dev/stderr)
changed=$(grep -E '^[A-Za-z0-9_.-]+ +: ok=' <<<"$second_run" | grep -vE 'changed=0 ' || true)
if [ -n "$changed" ]; then
  echo "lab-smoke: the second run of site.yml changed something:" >&2
  echo "$changed" >&2
  exit 1
fi
echo "lab-smoke: second run of site.yml changed nothing"
