# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module arguments for a module's main() run in-process, on every ansible-core release the
collection supports (meta/runtime.yml: 2.16 and later)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

try:  # ansible-core 2.19 and later
    from ansible.module_utils.testing import patch_module_args
except ImportError:
    patch_module_args = None


@contextlib.contextmanager
def module_args(args):
    """AnsibleModule reads ``args`` as if Ansible had sent them: through
    ``ansible.module_utils.testing`` where it exists, else through the serialized arguments
    ``basic._ANSIBLE_ARGS`` that releases before 2.19 read first."""
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    from ansible.module_utils import basic

    saved = basic._ANSIBLE_ARGS
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = saved
