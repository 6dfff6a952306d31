# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubernetes.core's k8s, k8s_info, k8s_exec and k8s_cp against the cluster, run through the
shared ``ansible`` fixture exactly as the collection's own tests run them.

Steps are grouped into playbooks: every module run pays Python's start-up and imports
(k8s_exec and k8s_cp import the whole generated CoreV1Api, seconds on their own).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import uuid

import pytest
from kubernetes import client as k8s
from kubernetes.stream import stream


@pytest.fixture(scope="module")
def ns(cluster):
    name = "ansible-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", name, check=True)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def _ran(result):
    assert result.rc == 0, (result.stdout[-3000:], result.stderr[-2000:])
    return result


def _one(result, name):
    found = result.task_results(name)
    assert len(found) == 1, name
    return found[0]


K8S_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    cm:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: from-ansible, namespace: "{{ ns }}"}
      data: {a: "1"}
  tasks:
    - name: preview
      kubernetes.core.k8s: {definition: "{{ cm }}"}
      check_mode: true
      register: preview
    - name: after preview
      kubernetes.core.k8s_info: {kind: ConfigMap, namespace: "{{ ns }}", name: from-ansible}
    - name: create
      kubernetes.core.k8s: {definition: "{{ cm }}"}
    - name: again
      kubernetes.core.k8s: {definition: "{{ cm }}"}
    - name: apply
      kubernetes.core.k8s: {definition: "{{ cm | combine({'data': {'a': '3'}}) }}", apply: true}
    - name: delete
      kubernetes.core.k8s: {state: absent, kind: ConfigMap, namespace: "{{ ns }}",
                            name: from-ansible}
    - name: annotate featuregate
      kubernetes.core.k8s:
        definition:
          apiVersion: config.openshift.io/v1
          kind: FeatureGate
          metadata:
            name: cluster
            annotations: {forensic.test/touched: "yes"}
    - name: pools
      kubernetes.core.k8s_info:
        api_version: machineconfiguration.openshift.io/v1
        kind: MachineConfigPool
    - name: workers
      kubernetes.core.k8s_info:
        kind: Node
        label_selectors: [node-role.kubernetes.io/worker]
        field_selectors: [metadata.name!=worker-0]
"""


def test_k8s_and_k8s_info(ansible, ns):
    result = _ran(ansible.playbook(K8S_PLAYBOOK, extra_vars={"ns": ns}))
    assert _one(result, "preview")["changed"] is True
    assert _one(result, "after preview")["resources"] == []  # check mode is a server dry run
    created = _one(result, "create")
    assert created["changed"] is True and created["result"]["data"] == {"a": "1"}
    assert _one(result, "again")["changed"] is False
    applied = _one(result, "apply")
    assert applied["changed"] is True and applied["result"]["data"] == {"a": "3"}
    assert _one(result, "delete")["changed"] is True
    # a custom resource: strategic merge is refused (415) and kubernetes.core falls back
    touched = _one(result, "annotate featuregate")["result"]["metadata"]["annotations"]
    assert touched["forensic.test/touched"] == "yes"
    pools = {p["metadata"]["name"] for p in _one(result, "pools")["resources"]}
    assert {"master", "worker"} <= pools
    workers = _one(result, "workers")["resources"]
    assert workers and all("node-role.kubernetes.io/worker" in n["metadata"]["labels"] and
                           n["metadata"]["name"] != "worker-0" for n in workers)


def test_module_runs_as_an_identity(ansible):
    denied = ansible.module("kubernetes.core.k8s_info", {"kind": "Pod", "namespace": "demo"},
                            identity="nobody")
    assert denied.rc != 0
    assert ('User \\"system:serviceaccount:forensic-identities:nobody\\" cannot list resource'
            in denied["msg"]) or ('User "system:serviceaccount:forensic-identities:nobody" '
                                  'cannot list resource' in denied["msg"])


EXEC_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: daemonset
      kubernetes.core.k8s:
        wait: true
        wait_timeout: 60
        definition:
          apiVersion: apps/v1
          kind: DaemonSet
          metadata: {name: tools, namespace: "{{ ns }}"}
          spec:
            selector: {matchLabels: {app: tools}}
            template:
              metadata: {labels: {app: tools}}
              spec:
                containers:
                  - {name: tools, image: registry.example/tools:1, command: [sleep, infinity]}
    - name: pods
      kubernetes.core.k8s_info:
        kind: Pod
        namespace: "{{ ns }}"
        label_selectors: [app=tools]
        field_selectors: [spec.nodeName=worker-2]
      register: pods
    - name: exec
      kubernetes.core.k8s_exec:
        namespace: "{{ ns }}"
        pod: "{{ pods.resources[0].metadata.name }}"
        command: sh -c 'echo $HOSTNAME; echo no >&2; exit 5'
      ignore_errors: true
    - name: upload
      kubernetes.core.k8s_cp:
        namespace: "{{ ns }}"
        pod: "{{ pods.resources[0].metadata.name }}"
        local_path: "{{ upload }}"
        remote_path: /tmp/upload.bin
    - name: download
      kubernetes.core.k8s_cp:
        namespace: "{{ ns }}"
        pod: "{{ pods.resources[0].metadata.name }}"
        remote_path: /etc/os-release
        local_path: "{{ download }}"
        state: from_pod
"""


@pytest.mark.simulated_only
def test_k8s_exec_and_k8s_cp_in_a_daemonset_pod(ansible, cluster, ns, tmp_path):
    upload = tmp_path / "upload.bin"
    upload.write_bytes(bytes(range(256)) * 4096)  # 1 MiB of binary
    download = tmp_path / "os-release"
    result = _ran(ansible.playbook(EXEC_PLAYBOOK, extra_vars={
        "ns": ns, "upload": str(upload), "download": str(download)}))
    daemonset = _one(result, "daemonset")["result"]
    assert daemonset["status"]["numberReady"] == 3  # the workers: the master is tainted
    pod = _one(result, "pods")["resources"][0]["metadata"]["name"]
    ran = _one(result, "exec")
    assert (ran["stdout"], ran["stderr"], ran["rc"]) == (pod + "\n", "no\n", 5)
    assert _one(result, "upload")["changed"] is True
    with open("/etc/os-release", "rb") as handle:  # the "image" is the machine's /usr,/etc
        assert download.read_bytes() == handle.read()

    v1 = k8s.CoreV1Api(cluster.api_client())
    digest = stream(v1.connect_get_namespaced_pod_exec, pod, ns,
                    command=["sha256sum", "/tmp/upload.bin"], stdout=True, stderr=True,
                    stdin=False, tty=False)
    assert digest.split()[0] == hashlib.sha256(upload.read_bytes()).hexdigest()
