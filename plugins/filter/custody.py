# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the roles: each node's results and the chain-of-custody record.
Thin wrappers over module_utils/custody (documented in the sidecar .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.forensic.checkpoint.plugins.module_utils.custody import record, results


def custody_gather(hosts, names):
    # a host of the run without facts did not run its analysis: gather reports it as failed
    return record.gather(dict((n, hosts[n] if n in hosts else {}) for n in names or []))


class FilterModule(object):
    def filters(self):
        return {"custody_fetch_items": results.fetch_items, "custody_transfers": results.transfers,
                "custody_removable": results.removable, "custody_node_results": results.node_results,
                "custody_described": results.described,
                "custody_gather": custody_gather, "custody_record": record.record,
                "custody_over_severity": record.over, "custody_altered": record.altered,
                "custody_output_paths": record.output_paths}
