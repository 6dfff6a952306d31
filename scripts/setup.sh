#!/usr/bin/env bash
# One-shot set-up behind `make demo`, `make test` and `make bench`:
# system packages (bindep.txt, tests/bindep.txt), the .venv, pycriu from the distribution, and the
# .collections tree that ansible.cfg points Ansible at. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PYTHON=${PYTHON:-python3}
venv=$root/.venv
profiles=${SETUP_PROFILES:-test}

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.11 or newer (apt-get install python3 python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); Python 3.11 or newer is required"

# bindep needs a virtualenv to run from; python3-venv may itself be missing on a fresh machine.
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    die "Python's venv module is missing: run 'sudo apt-get install python3-venv' and try again"
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$PYTHON" -m venv "$venv"
fi
stamp=$venv/.requirements.sha256
# The checkout's path is part of the stamp: the editable simulator must point into this tree.
want=$({ pwd; cat requirements.txt requirements-dev.txt tools/simcluster/pyproject.toml; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$venv/bin/python" -c 'import simcluster' 2>/dev/null; then
  say "installing Python requirements into .venv (a few minutes the first time)"
  "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
  # The simulated cluster (`python -m simcluster`), editable so changes to it take effect at once.
  "$venv/bin/pip" install -q --disable-pip-version-check -e tools/simcluster
  echo "$want" > "$stamp"
fi

# System packages: bindep.txt (run time) and tests/bindep.txt's profile (demo or test); installed
# when we are root, otherwise named.
read -ra profile_list <<< "$profiles"
mapfile -t missing < <({ "$venv/bin/bindep" -b -f bindep.txt || true; "$venv/bin/bindep" -b -f tests/bindep.txt "${profile_list[@]}" || true; } 2>/dev/null)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    die "missing system packages: ${missing[*]}. Install them (e.g. 'sudo apt-get install ${missing[*]}') and run this again"
  fi
fi

# pycriu lives in the system site-packages; expose that one package, not the whole directory.
pycriu_dir=$(/usr/bin/python3 -c 'import os, pycriu; print(os.path.dirname(pycriu.__file__))' 2>/dev/null) \
  || die "pycriu is not importable by /usr/bin/python3: install the distribution's criu package (Debian/Ubuntu: criu, Fedora: python3-criu)"
mkdir -p "$venv/distro-packages"
ln -sfn "$pycriu_dir" "$venv/distro-packages/pycriu"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$venv/distro-packages" > "$site/forensic-checkpoint-distro.pth"
"$venv/bin/python" -c 'import pycriu.images' || die "pycriu does not import in .venv (protobuf mismatch?)"

# ansible.cfg's collections_path: this checkout is forensic.checkpoint; kubernetes.core comes from
# the ansible package in .venv, which Ansible finds on sys.path.
mkdir -p .collections/ansible_collections/forensic
ln -sfn ../../.. .collections/ansible_collections/forensic/checkpoint
# ansible-test bootstraps pip in its venvs with a script from a host we cannot reach; give it ours.
scripts/ansible_test_get_pip.sh "$venv"
say "set-up done"
