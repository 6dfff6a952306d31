#!/usr/bin/env bash
# ansible-test bootstraps pip in its venvs with a script from a host we cannot reach: put ours
# (scripts/ansible_test_get_pip.py) in its cache, under the pip version the ansible-test of the
# venv given asks for. Usage: scripts/ansible_test_get_pip.sh VENV
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1
requirements="$("$venv/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py"
pip_version=$(grep -oP "^\s+pip='\K[0-9.]+" "$requirements" | head -1)
if [ -n "$pip_version" ]; then
  cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  mkdir -p "$(dirname "$cache")"
  cp scripts/ansible_test_get_pip.py "$cache"
fi
