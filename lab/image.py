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


VM_RECIPE = Path(__file__).with_name("vm-image.sh")
VM_IMAGE_ROOT = Path(__file__).resolve().parent.parent / ".cache" / "vm-images"
VM_IMAGE_FILES = ("root.raw", "vmlinuz", "initrd")


def vm_recipe_hash(distro: str) -> str:
    """Covers both recipes: the VM image is the node image plus a kernel."""
    digest = hashlib.sha256(RECIPE.read_bytes())
    digest.update(VM_RECIPE.read_bytes())
    digest.update(SUITES[distro].encode())
    return digest.hexdigest()[:16]


def vm_image_dir(distro: str) -> Path:
    return VM_IMAGE_ROOT / f"{distro}-{vm_recipe_hash(distro)}"


def ensure_vm(distro: str) -> Path:
    """The directory of a VM image (disk, kernel, initrd), built unless cached."""
    target = vm_image_dir(distro)
    if all((target / name).exists() for name in VM_IMAGE_FILES):
        return target
    print(f"lab: building VM image {target.name} with debootstrap (about a minute)", file=sys.stderr, flush=True)
    VM_IMAGE_ROOT.mkdir(parents=True, exist_ok=True)
    for stale in VM_IMAGE_ROOT.glob(f"{distro}-*"):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    with tempfile.TemporaryDirectory(prefix=f"lab-vm-{distro}-", dir=VM_IMAGE_ROOT) as tmp:
        out = Path(tmp) / "image"
        out.mkdir()
        subprocess.run(
            ["bash", str(VM_RECIPE), SUITES[distro], str(Path(tmp) / "rootfs"), str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        out.rename(target)
    return target
