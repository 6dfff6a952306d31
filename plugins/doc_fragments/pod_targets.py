# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The containers a cluster module works on: a pod, or the pods a label selector matches."""

    DOCUMENTATION = r"""
options:
  namespace:
    description:
      - Namespace of the pods.
    type: str
    required: true
  pod:
    description:
      - Name of the pod.
    type: str
  label_selectors:
    description:
      - Label selectors the pods must match, all of them, such as V(app=counters).
    type: list
    elements: str
  containers:
    description:
      - Names of the containers in each pod. All of the pod's containers if omitted.
    type: list
    elements: str
"""
