# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip.py that ansible-test downloads to bootstrap its venvs.

ansible-test fetches that script from ci-files.testing.ansible.com, which our build machines
cannot reach; scripts/setup.sh puts this file in ansible-test's cache instead. It installs the
pip bundled with Python (ensurepip), then the pip ansible-test asked for, from PyPI.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ensurepip
import os
import subprocess
import sys

# get-pip.py options that plain `pip install` does not know.
GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")
# The pip bundled with Python trusts only its own certificates; ansible-test strips SSL_CERT_FILE
# from the environment, so point it at the system bundle (TLS-inspecting proxies are in there).
SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def main():
    ensurepip.bootstrap(upgrade=True)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    # ensurepip sets these in our own environment and they would hide the machine's pip.conf.
    env = dict((k, v) for k, v in os.environ.items() if k not in ("PIP_CONFIG_FILE", "ENSUREPIP_OPTIONS"))
    for bundle in SYSTEM_CA_BUNDLES:
        if "SSL_CERT_FILE" not in env and os.path.exists(bundle):
            env["SSL_CERT_FILE"] = bundle
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))


if __name__ == "__main__":
    main()
