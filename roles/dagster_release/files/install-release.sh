#!/usr/bin/env bash
# Install a release offline: install-release <release-dir> <wheelhouse.tar> <python> <module>
# Writes <release-dir>/.complete only when the venv imports the project's module.
set -euo pipefail
release_dir=$1 wheelhouse=$2 python=$3 module=$4

rm -rf "$release_dir"   # leftovers of an install that did not complete
mkdir -p "$release_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xf "$wheelhouse" -C "$work"

"$python" -m venv "$release_dir/venv"
"$release_dir/venv/bin/pip" install --quiet --disable-pip-version-check --no-index --no-cache-dir \
  --find-links "$work" --requirement "$work/requirements.txt"
"$release_dir/venv/bin/pip" check >/dev/null
"$release_dir/venv/bin/python" -c "import importlib, dagster_celery, dagster_postgres, dagster_celery_kit.launcher; importlib.import_module('$module')"

cp "$work/requirements.txt" "$release_dir/requirements.txt"
"$release_dir/venv/bin/pip" freeze --disable-pip-version-check >"$release_dir/freeze.txt"
basename "$release_dir" >"$release_dir/RELEASE"
rm -f "$wheelhouse"
touch "$release_dir/.complete"
