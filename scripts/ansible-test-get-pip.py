"""Stand-in for the pip bootstrap script ansible-test downloads from ci-files.testing.ansible.com, which is
not reachable where the kit is tested: pip from Python's own ensurepip, then the packages asked for, from
the package index pip is configured for. ansible-test runs it in each new sanity venv with get-pip's
arguments; `make sanity` puts it where ansible-test looks (~/.ansible/test/cache/get_pip_<version>.py)."""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

if __name__ == "__main__":
    # In a process of its own: ensurepip leaves PIP_CONFIG_FILE=/dev/null behind, hiding pip's settings.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *arguments]))
