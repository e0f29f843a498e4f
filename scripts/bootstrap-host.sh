#!/usr/bin/env bash
# Prepare this machine (Debian 12/13, as root) for the lab and the tests:
# apt packages, a running Docker daemon, and the pinned Python tools in .venv.
# Idempotent; a second run only checks.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"
# qemu and iptables: the VMs of the nfs scenario (lab/vm.py); e2fsprogs packs their disks.
# graphviz draws the fleet picture; chromium is the browser of `lab ui-check`;
# shellcheck is ansible-test sanity's check of the shell scripts the roles ship.
apt_packages=(docker.io debootstrap python3-venv openssh-client rsync git make qemu-system-x86 qemu-utils iptables e2fsprogs iproute2 graphviz chromium shellcheck)

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt and dockerd need it)"
command -v apt-get >/dev/null || die "this needs a Debian machine (apt-get not found)"

install_apt_packages() {
  local missing=()
  for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "apt packages present"
    return
  fi
  log "installing apt packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

docker_ready() { docker info >/dev/null 2>&1; }

start_docker() {
  if docker_ready; then
    log "docker daemon running"
    return
  fi
  if [ -d /run/systemd/system ]; then
    log "starting docker with systemd"
    systemctl enable --now docker
  else
    # No init system manages services here (containers, CI sandboxes): run dockerd ourselves.
    log "starting dockerd in the background (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker_ready && { log "docker daemon ready"; return; }
    sleep 1
  done
  die "docker daemon did not come up; see /var/log/dockerd.log"
}

install_python_tools() {
  local stamp="$venv/.requirements.sha256"
  local want
  want=$(sha256sum "$repo/requirements.txt" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "python tools up to date in .venv"
    return
  fi
  log "installing pinned python tools into .venv"
  python3 -m venv "$venv"
  # This machine's pip config adds local find-links that do not exist everywhere; drop their noise.
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$repo/requirements.txt" 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }
  echo "$want" >"$stamp"
}

# promtool checks and unit-tests the alert rules (make lint, make unit). It comes from Debian's
# prometheus package, unpacked into .venv/bin: installing the package would start a Prometheus here.
install_promtool() {
  if [ -x "$venv/bin/promtool" ]; then
    log "promtool present"
    return
  fi
  log "unpacking promtool from Debian's prometheus package into .venv/bin"
  local scratch
  scratch=$(mktemp -d)
  (cd "$scratch" && apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; })
  dpkg-deb --fsys-tarfile "$scratch"/prometheus_*.deb | tar -x -C "$scratch" ./usr/bin/promtool
  install -m 0755 "$scratch/usr/bin/promtool" "$venv/bin/promtool"
  rm -rf "$scratch"
}

install_apt_packages
start_docker
install_python_tools
install_promtool
log "ready"
