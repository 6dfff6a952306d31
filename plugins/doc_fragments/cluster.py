# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """What every cluster module shares: its client's requirements and its action group (the
    options come from kubernetes.core.k8s_auth_options)."""

    DOCUMENTATION = r"""
options: {}
requirements:
  - python >= 3.9
  - kubernetes >= 24.2.0
  - PyYAML >= 5.1
notes:
  - The module belongs to the C(forensic.checkpoint.cluster) action group, so C(module_defaults) for
    C(group/forensic.checkpoint.cluster) can carry the auth options.
"""
