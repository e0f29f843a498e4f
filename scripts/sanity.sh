#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships: built from the checkout (galaxy.yml's build_ignore
# leaves out the lab, the tests and the benchmarks), installed into a scratch ansible_collections tree,
# and tested there with the Python of the kit's venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# Outside the checkout: inside a git work tree ansible-test would only test files git tracks there.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/dagster-celery-sanity.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/build"
ansible-galaxy collection build --output-path "$scratch/build" . >/dev/null
ansible-galaxy collection install --offline --no-deps --force -p "$scratch" "$scratch"/build/*.tar.gz >/dev/null
# ansible-test bootstraps pip in its sanity venvs with a script it downloads from a host that is not
# reachable here; a stand-in installs pip from ensurepip and the package index instead.
pip_version=$(python - <<'PIP'
import re
from pathlib import Path
import ansible_test
source = (Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", source)[1])
PIP
)
mkdir -p ~/.ansible/test/cache
cp scripts/ansible-test-get-pip.py ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py
python_version=$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
cd "$scratch/ansible_collections/dagster_celery/baremetal"
ansible-test sanity --python "$python_version" --color no
