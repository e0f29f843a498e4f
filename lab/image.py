"""Node images built from Debian's archive with debootstrap, cached by recipe hash."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from lab import docker

RECIPE = Path(__file__).with_name("node-image.sh")
SUITES = {"debian12": "bookworm", "debian13": "trixie"}
IMAGE_REPOSITORY = "dagster-lab-node"
RECIPE_LABEL = "dagster-lab.recipe"


def image_name(distro: str) -> str:
    return f"{IMAGE_REPOSITORY}:{distro}"


def recipe_hash(distro: str) -> str:
    """Changes whenever the recipe or the suite changes, and only then."""
    digest = hashlib.sha256(RECIPE.read_bytes())
    digest.update(SUITES[distro].encode())
    return digest.hexdigest()[:16]


def is_current(distro: str) -> bool:
    name = image_name(distro)
    if not docker.exists("image", name):
        return False
    labels = docker.inspect("image", name)["Config"].get("Labels") or {}
    return bool(labels.get(RECIPE_LABEL) == recipe_hash(distro))


def build(distro: str) -> None:
    """Debootstrap a root filesystem and import it as the node image."""
    suite = SUITES[distro]
    with tempfile.TemporaryDirectory(prefix=f"lab-{distro}-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(["bash", str(RECIPE), suite, str(rootfs)], check=True, stdout=subprocess.DEVNULL)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [
                "docker",
                "import",
                "--change",
                f"LABEL {RECIPE_LABEL}={recipe_hash(distro)}",
                "--change",
                "ENV container=docker",
                "--change",
                'CMD ["/sbin/init"]',
                "-",
                image_name(distro),
            ],
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise RuntimeError(f"packing the {distro} root filesystem failed")


def ensure(distro: str) -> bool:
    """Build the image unless the cached one matches the recipe. True if it was built."""
    if is_current(distro):
        return False
    print(
        f"lab: building node image {image_name(distro)} with debootstrap (about a minute)", file=sys.stderr, flush=True
    )
    build(distro)
    return True
