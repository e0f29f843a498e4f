#!/usr/bin/env bash
# Smoke run of the README's main command on a lab of its own (it never touches
# the user's lab), with the shared names renamed (another account, home,
# configuration, state and shared directory than the defaults) and two code
# locations: up; deploy with the kit built and installed as an Ansible
# collection (from a playbook outside the repository, with only the declared
# collections); the example job through Celery and its run page in headless
# Chromium; the fleet picture; deploy again from the checkout with nothing
# changed; monitoring: every scrape target up, an alert fired and resolved
# live; the second location's job (a create-dagster project with a uv.lock);
# an upgrade of that location alone (the other's code server keeps its process)
# and its job again; down.
set -euo pipefail
cd "$(dirname "$0")/.."

name=dagster-lab-smoke
state=.lab/$name
nodes_inventory=$state/nodes.yml
lab=(python -m lab --name "$name" --inventory "$nodes_inventory")

cleanup() {
  "${lab[@]}" down
  rm -rf "$state/group_vars/all/code_locations.yml" "$state/group_vars/all/names.yml" \
    "$state/group_vars/all/concurrency.yml" "$state/locked_project" "$state/collection"
}
trap cleanup EXIT

# The shared names (role dagster_deployment), renamed: every file, unit, helper and check below must
# follow them. Written before `up`, which mounts the lab's volume at the shared directory.
mkdir -p "$state/group_vars/all"
cat >"$state/group_vars/all/names.yml" <<NAMES
dagster_deployment_user: orchestra
dagster_deployment_group: orchestra
dagster_deployment_uid: 1990
dagster_deployment_gid: 1990
dagster_deployment_home: /opt/orchestra
dagster_deployment_config_dir: /etc/orchestra
dagster_deployment_state_dir: /var/lib/orchestra
dagster_deployment_run_requests_dir: /var/lib/orchestra-run-requests
dagster_deployment_shared_dir: /data/orchestra
NAMES
# A run limit of one code location: every run carries its location as the tag dagster/code_location.
cat >"$state/group_vars/all/concurrency.yml" <<LIMITS
dagster_config_tag_concurrency_limits:
  - {key: dagster/code_location, value: locked_project, limit: 1}
LIMITS

"${lab[@]}" up --nodes "${LAB_NODES:-4}" --distro "${LAB_DISTRO:-debian13}"

# Two code locations, in the lab's inventory (group_vars next to its nodes.yml), so every playbook below
# deploys both: the example, and a project in create-dagster's layout (src/, hatchling, [tool.dg.project],
# @definitions) with a uv.lock, copied here so that a new release of it can be made below. Its release
# installs the locked versions in a venv of its own: its first op fails unless humanize is the lock's
# 4.9.0 (PyPI has newer ones).
# The locked project's processes get an environment of their own: a secret token made of special characters
# and, plain, its digest, which its second op checks (rotated below). Its state-backed component (a table
# catalog, as dbt's manifest is) loads only from the state `dg utils refresh-defs-state` writes: the build
# refreshes it (refresh_defs_state) and ships it in the release.
locked=$PWD/$state/locked_project
rm -rf "$locked" && cp -r tests/fixtures/locked_project "$locked"
write_locations() {  # write_locations <the locked location's token>
  python3 - "$1" "$state/group_vars/all/code_locations.yml" "$PWD/files/example_project" "$locked" <<'LOCATIONS'
import hashlib, json, sys
token, path, example, locked = sys.argv[1:]
environment = {"LOCKED_TOKEN_SHA256": hashlib.sha256(token.encode()).hexdigest()}
entries = [{"project_dir": example},
           {"project_dir": locked, "environment": environment, "secret_environment": {"LOCKED_TOKEN": token},
            "refresh_defs_state": True}]
with open(path, "w") as out:
    json.dump({"dagster_release_locations": entries}, out)  # JSON is YAML
LOCATIONS
}
new_token() { printf '%s%s' "\"'\\\$%/@: " "$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"; }
token=$(new_token)
write_locations "$token"

# The kit as an Ansible collection: built, installed into a scratch directory next to only the collections
# requirements.yml declares (nothing else of the `ansible` bundle is visible), and the first deploy made by
# the collection's names from a playbook there, outside the repository. The later playbooks run from the
# checkout, against what the collection deployed: its second site.yml must change nothing.
collection=$PWD/$state/collection
rm -rf "$collection" && mkdir -p "$collection/installed"
ansible-galaxy collection build --output-path "$collection" .
python scripts/declared_collections.py requirements.yml "$collection/installed"
ansible-galaxy collection install --offline --no-deps --force -p "$collection/installed" "$collection"/dagster_celery-baremetal-*.tar.gz
grep -v '^roles_path' ansible.cfg >"$collection/ansible.cfg"
cat >"$collection/deploy.yml" <<'DEPLOY'
---
- name: Issue the lab's certificates
  ansible.builtin.import_playbook: dagster_celery.baremetal.lab_ca
- name: Deploy Dagster on Celery
  ansible.builtin.import_playbook: dagster_celery.baremetal.site
DEPLOY
(
  cd "$collection"
  ANSIBLE_CONFIG=$collection/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$collection/installed \
    ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ANSIBLE_ROLES_PATH=$collection/no-roles \
    ansible-playbook -i "$OLDPWD/$nodes_inventory" -i "$OLDPWD/inventories/lab/topology.yml" deploy.yml
)
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
# What a worker instance (one per location and queue) costs its host at rest.
python -m bench --results "$state/bench" footprint --lab "$name" --inventory "$nodes_inventory" \
  --inventory inventories/lab/topology.yml

# Monitoring on node1: every scrape target up; then the failure users report most, live: the heavy queue's
# workers stopped, a run with steps on it waits, DagsterQueueWithoutConsumers and DagsterWorkerDown fire in
# Alertmanager; the workers started again, the run succeeds and both alerts resolve.
"${lab[@]}" monitoring
"${lab[@]}" alert-check --queue heavy --job fan_out_job

# The second location's job, through its own workers; then the job of its state-backed component's assets.
"${lab[@]}" run-job --job locked_job
"${lab[@]}" ui-check --job locked_job
"${lab[@]}" run-job --job catalog_job
# Its location's limit of one run: three of its runs launched at once run one after another, while three of
# the example's, launched with them, run together.
"${lab[@]}" limit-check --job catalog_job --unlimited-job fan_out_job --runs 3

# A new secret for the locked project alone: site.yml restarts that location's code server and workers and no
# process of the example's, whose run in flight (two 150 s steps) goes on and succeeds; the locked project's
# job then runs with the new token; neither token is in the playbook's output.
location_pids() {  # location_pids <location>: "host unit main-PID" of its code server and workers, sorted
  ansible -i "$nodes_inventory" -i inventories/lab/topology.yml 'control:workers' -b -m ansible.builtin.shell \
    -a "for unit in \$(systemctl list-units --plain --no-legend --type=service 'dagster-code-server@$1.service' \
        'dagster-celery-worker@$1.*' | cut -d' ' -f1); do echo \"\$(hostname) \$unit \$(systemctl show -p MainPID \
        --value \$unit)\"; done" 2>/dev/null | grep -v ' | ' | sort
}
"${lab[@]}" run-job --job long_steps_job \
  --ops-config '{"sleep_on_default": {"config": {"seconds": 150}}, "long_step": {"config": {"seconds": 150}}}' \
  >"$state/in-flight.log" 2>&1 &
in_flight=$!
sleep 20
example_before=$(location_pids example)
locked_before=$(location_pids locked_project)
old_token=$token
token=$(new_token)
write_locations "$token"
ansible-playbook -i "$nodes_inventory" -i inventories/lab/topology.yml site.yml >"$state/rotate.log" 2>&1 \
  || { tail -n 40 "$state/rotate.log"; exit 1; }
example_after=$(location_pids example)
locked_after=$(location_pids locked_project)
if ! wait "$in_flight"; then
  cat "$state/in-flight.log"
  echo "lab-smoke: the example's run in flight did not succeed through the locked project's new environment" >&2
  exit 1
fi
if [ -z "$example_before" ] || [ "$example_after" != "$example_before" ]; then
  printf 'before:\n%s\nafter:\n%s\n' "$example_before" "$example_after"
  echo "lab-smoke: changing the locked project's environment restarted a process of the example's" >&2
  exit 1
fi
if [ -z "$locked_before" ] || [ -n "$(comm -12 <(echo "$locked_before") <(echo "$locked_after"))" ]; then
  printf 'before:\n%s\nafter:\n%s\n' "$locked_before" "$locked_after"
  echo "lab-smoke: a process of the locked project kept its old environment" >&2
  exit 1
fi
if grep -qF -e "$token" -e "$old_token" "$state/rotate.log"; then
  echo "lab-smoke: a token of the locked project is in the playbook's output" >&2
  exit 1
fi
echo "lab-smoke: the locked project's new environment restarted its $(echo "$locked_after" | wc -l) processes only"
"${lab[@]}" run-job --job locked_job

# A new release of that location alone, rolled out by upgrade.yml: the example's code server keeps its
# process, the locked project's restarts on the new release.
code_server_pid() {  # the main process of a code location's code server on the control node
  ansible -i "$nodes_inventory" -i inventories/lab/topology.yml control -b -m ansible.builtin.command \
    -a "systemctl show -p MainPID --value dagster-code-server@$1" 2>/dev/null | tail -n 1
}
example_before=$(code_server_pid example)
locked_before=$(code_server_pid locked_project)
echo "# a new release of locked_project" >>"$locked/src/locked_project/definitions.py"
# All three worker hosts in one batch: this run is about which services restart; the cluster scenario
# proves that host-by-host batches lose no step. The batch size comes as a key=value string, as operators type it.
ansible-playbook -i "$nodes_inventory" -i inventories/lab/topology.yml playbooks/upgrade.yml \
  -e dagster_rollout_batch_size=3
example_after=$(code_server_pid example)
locked_after=$(code_server_pid locked_project)
echo "lab-smoke: code servers: example $example_before -> $example_after, locked_project $locked_before -> $locked_after"
if [ "${example_before:-0}" = 0 ] || [ "$example_after" != "$example_before" ]; then
  echo "lab-smoke: upgrading locked_project restarted the example's code server" >&2
  exit 1
fi
if [ "${locked_after:-0}" = 0 ] || [ "$locked_after" = "$locked_before" ]; then
  echo "lab-smoke: locked_project's code server did not restart on its new release" >&2
  exit 1
fi
"${lab[@]}" run-job --job locked_job
