# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the roles: what to checkpoint, where each archive is, how to reach it.
Thin wrappers over module_utils/targets (documented in the sidecar .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.forensic.checkpoint.plugins.module_utils.errors import CheckpointError
from ansible_collections.forensic.checkpoint.plugins.module_utils.targets import archives, connection, targets


def checkpoint_targets(value, single=None):
    try:
        return targets.normalise(value, single)
    except CheckpointError as exc:
        raise AnsibleFilterError(str(exc))


def checkpoint_archives(checkpoints, pods, nodes, analyser_pods):
    return archives.match(checkpoints, pods, nodes, analyser_pods)


def checkpoint_analyser_info(pod, container, checkpoint_dir=None):
    return archives.analyser(pod, container, checkpoint_dir)


def load_kubeconfig(path):
    """A kubeconfig (YAML) as a dict; {} when absent or unreadable (the URL is then ``unknown``)."""
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except (IOError, OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def kubectl_connection(auth):
    return connection.kubectl(auth, load=load_kubeconfig)


class FilterModule(object):
    def filters(self):
        return {"checkpoint_targets": checkpoint_targets, "checkpoint_target_label": targets.label,
                "checkpoint_memory_searches": targets.memory_searches, "checkpoint_archives": checkpoint_archives,
                "checkpoint_local_archives": archives.local, "checkpoint_analyser_info": checkpoint_analyser_info,
                "checkpoint_analyser_pods": archives.pods_summary, "kubectl_connection": kubectl_connection}
