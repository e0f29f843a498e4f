"""The VM harness's pure parts; booting real VMs is the molecule scenario `nfs`."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

import pytest

from lab import cli, image, vm


def lab(name: str = "molecule-nfs") -> vm.VmLab:
    return vm.VmLab(name, Path("/state"))


def test_interface_names_fit_the_kernel_limit_and_differ_per_lab() -> None:
    assert len(lab().bridge) <= 15
    assert len(lab().tap(99)) <= 15
    assert lab("a").bridge != lab("b").bridge


def test_vms_get_consecutive_addresses_after_the_host() -> None:
    assert lab().gateway == ipaddress.IPv4Address("10.77.0.1")
    assert [str(lab().address(i)) for i in range(3)] == ["10.77.0.11", "10.77.0.12", "10.77.0.13"]
    assert len({lab().mac(i) for i in range(3)}) == 3


def test_kernel_command_line_sets_address_gateway_and_hostname() -> None:
    line = vm.kernel_command_line(lab(), vm.Vm("nfs-client", 1, 512))
    assert "ip=10.77.0.12::10.77.0.1:255.255.255.0:nfs-client:eth0:off" in line
    assert "systemd.hostname=nfs-client" in line
    assert "root=/dev/vda" in line


def test_qemu_command_uses_the_chosen_accelerator_and_passes_the_key_as_a_credential() -> None:
    machine = vm.Vm("nfs-server", 0, 768)
    tcg = vm.qemu_command(lab(), machine, Path("/img"), "tcg", "ssh-ed25519 AAAA test")
    joined = " ".join(tcg)
    assert "-accel tcg -cpu max" in joined
    assert "-m 768" in joined
    assert "io.systemd.credential.binary:ssh.authorized_keys.root=c3NoLWVkMjU1MTkgQUFBQSB0ZXN0" in joined
    assert f"ifname={lab().tap(0)}" in joined
    assert "/state/vms/nfs-server/disk.qcow2" in joined
    kvm = vm.qemu_command(lab(), machine, Path("/img"), "kvm", "k")
    assert "-accel kvm -cpu host" in " ".join(kvm)


def test_an_explicit_accelerator_is_taken_without_probing() -> None:
    assert vm.choose_accel("tcg", Path("/nonexistent")) == "tcg"
    assert vm.choose_accel("kvm", Path("/nonexistent")) == "kvm"


def test_firewall_rules_are_tagged_with_the_lab_name() -> None:
    rules = lab().firewall_rules()
    assert {table for table, _, _ in rules} == {"nat", "filter"}
    assert all("dagster-lab:molecule-nfs" in rule for _, _, rule in rules)


def test_machine_specs_parse_memory_and_refuse_bad_hostnames() -> None:
    assert cli.parse_machine(2, "outsider:512") == vm.Vm("outsider", 2, 512)
    assert cli.parse_machine(0, "nfs-server").memory_mb == 1024
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_machine(0, "bad_name")


def test_vm_image_hash_covers_both_recipes() -> None:
    assert image.vm_recipe_hash("debian13") != image.recipe_hash("debian13")
    assert image.vm_image_dir("debian13").name.startswith("debian13-")
