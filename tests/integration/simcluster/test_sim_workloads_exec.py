# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pods: Deployments and DaemonSets scheduled onto the nodes, and ``pods/exec`` running for
real in a bubblewrap sandbox that shows each node's checkpoint directory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import uuid

import pytest
import websocket
from kubernetes import client as k8s
from kubernetes.stream import stream

from harness.testing import (KUBECTL, WEBSOCKET_KUBECTL_MINOR, kubectl_minor, value_if,
                             wait_for)

pytestmark = [pytest.mark.simulated_only,
              pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap missing")]


@pytest.fixture(scope="module")
def ns(cluster):
    cluster.sim.reset()  # all nodes Ready and schedulable, whatever ran before
    name = "wl-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", name, check=True)
    # hostPath volumes need the privileged SCC on OpenShift: allow the namespace's default
    # ServiceAccount to use it, as a real cluster requires (harmless where SCCs do not exist)
    rbac = k8s.RbacAuthorizationV1Api(cluster.api_client())
    rbac.create_namespaced_role(name, {"metadata": {"name": "scc-privileged"}, "rules": [{
        "apiGroups": ["security.openshift.io"], "resources": ["securitycontextconstraints"],
        "resourceNames": ["privileged"], "verbs": ["use"]}]})
    rbac.create_namespaced_role_binding(name, {
        "metadata": {"name": "scc-privileged"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "scc-privileged"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": name}]})
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def v1(cluster):
    return k8s.CoreV1Api(cluster.api_client())


@pytest.fixture(scope="module")
def apps(cluster):
    return k8s.AppsV1Api(cluster.api_client())


def _daemonset(name, spec_extra=None, container_extra=None):
    container = {"name": "main", "image": "registry.example/analyser:1",
                 "command": ["sleep", "infinity"]}
    container.update(container_extra or {})
    spec = {"containers": [container]}
    spec.update(spec_extra or {})
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def _ds_pods(v1, ns, name):
    def ready():
        pods = v1.list_namespaced_pod(ns, label_selector="app=" + name).items
        pods = [p for p in pods if not p.metadata.deletion_timestamp]
        return pods if pods and all(p.status.phase == "Running" for p in pods) else None
    return wait_for(ready, 15, what="daemonset pods of " + name)


def run(v1, ns, pod, command, stdin=None):
    resp = stream(v1.connect_get_namespaced_pod_exec, pod, ns, command=command, stdout=True,
                  stderr=True, stdin=stdin is not None, tty=False, _preload_content=False)
    if stdin is not None:
        resp.write_stdin(stdin)
        resp.close_channel(0)  # v5: close stdin
    out, err = [], []
    while resp.is_open():
        resp.update(timeout=1)
        if resp.peek_stdout():
            out.append(resp.read_stdout())
        if resp.peek_stderr():
            err.append(resp.read_stderr())
    resp.close()
    return "".join(out), "".join(err), resp.returncode


def test_daemonsets_run_one_pod_per_matching_node(v1, apps, ns):
    apps.create_namespaced_daemon_set(ns, _daemonset("plain"))
    apps.create_namespaced_daemon_set(ns, _daemonset("everywhere", {"tolerations": [
        {"key": "node-role.kubernetes.io/master", "operator": "Exists",
         "effect": "NoSchedule"}]}))
    apps.create_namespaced_daemon_set(ns, _daemonset("pinned", {"nodeSelector": {
        "kubernetes.io/hostname": "worker-2"}}))
    assert sorted(p.spec.node_name for p in _ds_pods(v1, ns, "plain")) == [
        "worker-0", "worker-1", "worker-2"]
    assert sorted(p.spec.node_name for p in _ds_pods(v1, ns, "everywhere")) == [
        "master-0", "worker-0", "worker-1", "worker-2"]
    pinned = _ds_pods(v1, ns, "pinned")
    assert [p.spec.node_name for p in pinned] == ["worker-2"]
    assert pinned[0].metadata.name.startswith("pinned-")
    assert pinned[0].metadata.owner_references[0].kind == "DaemonSet"
    status = wait_for(lambda: value_if(apps.read_namespaced_daemon_set_status("plain", ns).status,
                                       lambda s: s.number_ready == 3), 10, what="ds status")
    assert (status.desired_number_scheduled, status.current_number_scheduled,
            status.updated_number_scheduled) == (3, 3, 3)
    apps.delete_namespaced_daemon_set("plain", ns)
    wait_for(lambda: not v1.list_namespaced_pod(ns, label_selector="app=plain").items, 10,
             what="garbage collection of the daemonset's pods")


def test_deployments_scale_and_roll(v1, apps, ns):
    body = {"metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": "registry.example/web:1"}]}}}}
    apps.create_namespaced_deployment(ns, body)

    def pods():
        items = [p for p in v1.list_namespaced_pod(ns, label_selector="app=web").items
                 if not p.metadata.deletion_timestamp and p.status.phase == "Running"]
        return items
    first = wait_for(lambda: len(pods()) == 2 and pods(), 15, what="two web pods")
    hashes = {p.metadata.labels["pod-template-hash"] for p in first}
    assert len(hashes) == 1
    template_hash = hashes.pop()
    assert all(p.metadata.name.startswith("web-%s-" % template_hash) for p in first)
    assert {p.spec.node_name for p in first} <= {"worker-0", "worker-1", "worker-2"}
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    wait_for(lambda: len(pods()) == 3, 15, what="scale to 3")
    apps.patch_namespaced_deployment("web", ns, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "registry.example/web:2"}]}}}})
    done = wait_for(lambda: value_if(apps.read_namespaced_deployment("web", ns),
                                     lambda d: d.status.updated_replicas == 3 and
                                     d.status.ready_replicas == 3 and d.status.replicas == 3),
                    20, what="the new revision")
    assert done.status.observed_generation == done.metadata.generation
    assert {p.spec.containers[0].image for p in pods()} == {"registry.example/web:2"}


def test_exec_sees_the_nodes_checkpoint_directory(cluster, v1, apps, ns):
    apps.create_namespaced_daemon_set(ns, _daemonset("reader", {
        "volumes": [{"name": "ck", "hostPath": {"path": "/var/lib/kubelet/checkpoints",
                                                "type": "Directory"}},
                    {"name": "kubelet", "hostPath": {"path": "/var/lib/kubelet"}}]},
        {"volumeMounts": [{"name": "ck", "mountPath": "/checkpoints", "readOnly": True},
                          {"name": "kubelet", "mountPath": "/host/kubelet"}]}))
    pods = {p.spec.node_name: p.metadata.name for p in _ds_pods(v1, ns, "reader")}
    marker = "checkpoint-marker-%s.tar" % uuid.uuid4().hex[:6]
    with open(os.path.join(cluster.sim.checkpoint_dir("worker-2"), marker), "w") as handle:
        handle.write("evidence")
    out, _err, code = run(v1, ns, pods["worker-2"], ["ls", "/checkpoints"])
    assert code == 0 and marker in out.split()
    out, _err, _code = run(v1, ns, pods["worker-2"], ["cat", "/host/kubelet/checkpoints/" + marker])
    assert out == "evidence"
    out, _err, _code = run(v1, ns, pods["worker-0"], ["ls", "/checkpoints"])
    assert marker not in out.split()
    _out, err, code = run(v1, ns, pods["worker-2"], ["touch", "/checkpoints/new"])
    assert code != 0 and "Read-only file system" in err


def test_exec_is_a_sandbox_with_a_persistent_writable_root(cluster, v1, apps, ns):
    cm = {"metadata": {"name": "scripts"}, "data": {"hello.sh": "echo hello from $1\n"}}
    v1.create_namespaced_config_map(ns, cm)
    apps.create_namespaced_daemon_set(ns, _daemonset("sandbox", {
        "nodeSelector": {"kubernetes.io/hostname": "worker-1"},
        "volumes": [{"name": "scripts", "configMap": {"name": "scripts"}}]},
        {"workingDir": "/work", "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}],
         "env": [{"name": "MODE", "value": "forensic"},
                 {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}))
    pod = _ds_pods(v1, ns, "sandbox")[0].metadata.name
    out, _err, code = run(v1, ns, pod, ["sh", "-c", "pwd; echo $MODE $NODE $HOSTNAME; "
                                        "sh /scripts/hello.sh pod; echo $$"])
    lines = out.splitlines()
    assert code == 0
    assert lines[:3] == ["/work", "forensic worker-1 " + pod, "hello from pod"]
    assert int(lines[3]) <= 2  # a PID namespace of its own (bwrap's init is PID 1)
    assert run(v1, ns, pod, ["sh", "-c", "echo kept > /tmp/state; mkdir -p /data"])[2] == 0
    assert run(v1, ns, pod, ["cat", "/tmp/state"])[0] == "kept\n"
    out, _err, code = run(v1, ns, pod, ["sh", "-c", "cat > /data/in.bin; wc -c < /data/in.bin"],
                          stdin="x" * 100000)
    assert (out.strip(), code) == ("100000", 0)
    assert run(v1, ns, pod, ["sh", "-c", "exit 3"])[2] == 3
    _out, err, code = run(v1, ns, pod, ["touch", "/usr/should-fail"])
    assert code != 0 and "Read-only file system" in err
    assert not os.path.exists("/usr/should-fail")


def test_pods_reach_the_api_with_their_service_account_token(cluster, v1, ns):
    v1.create_namespaced_pod(ns, {"metadata": {"name": "incluster"}, "spec": {
        "containers": [{"name": "c", "image": "registry.example/c:1"}]}})
    wait_for(lambda: v1.read_namespaced_pod("incluster", ns).status.phase == "Running", 10,
             what="the pod")
    script = ("import json,os,ssl,urllib.request,urllib.error\n"
              "d='/var/run/secrets/kubernetes.io/serviceaccount/'\n"
              "ctx=ssl.create_default_context(cafile=d+'ca.crt')\n"
              "url='https://%s:%s/api/v1/namespaces/%s/pods'%(os.environ["
              "'KUBERNETES_SERVICE_HOST'],os.environ['KUBERNETES_SERVICE_PORT'],"
              "open(d+'namespace').read())\n"
              "req=urllib.request.Request(url,headers={'Authorization':'Bearer '+open(d+"
              "'token').read()})\n"
              "try: urllib.request.urlopen(req,context=ctx)\n"
              "except urllib.error.HTTPError as e: print(e.code, json.load(e)['message'])\n")
    out, err, code = run(v1, ns, "incluster", ["python3", "-c", script])
    assert code == 0, err
    assert out.strip() == ('403 pods is forbidden: User "system:serviceaccount:%s:default" '
                           'cannot list resource "pods" in API group "" in the namespace "%s"'
                           % (ns, ns))


def test_exec_errors_and_old_protocols(cluster, v1):
    pod = v1.list_namespaced_pod("demo", label_selector="app=counters").items[0].metadata.name
    base = "/api/v1/namespaces/demo/pods/%s/exec?command=echo&command=hi&stdout=true" % pod
    status, _headers, body = cluster.request("GET", base.replace("command=echo&command=hi&", ""))
    assert status == 400 and json.loads(body)["message"] == "you must specify at least 1 command"
    status, _headers, body = cluster.request("GET", base + "&container=nope")
    assert status == 400 and json.loads(body)["message"] == (
        "container nope is not valid for pod %s" % pod)
    # channel.k8s.io (v1): raw frames, no status on success
    url = cluster.host.replace("https://", "wss://") + base
    ws = websocket.create_connection(
        url, header=["Authorization: Bearer " + cluster.token("admin")],
        subprotocols=["channel.k8s.io"], sslopt={"ca_certs": cluster.ca_cert})
    frames = []
    while True:
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        frames.append(data)
    assert ws.subprotocol == "channel.k8s.io"
    assert b"\x01hi\n" in frames and not [f for f in frames if f[:1] == b"\x03"]


def test_exec_with_a_terminal(cluster, v1):
    pod = v1.list_namespaced_pod("demo", label_selector="app=counters").items[0].metadata.name
    resp = stream(v1.connect_get_namespaced_pod_exec, pod, "demo",
                  command=["sh", "-c", "sleep 0.3; test -t 0 && stty size; cat /etc/hostname"],
                  stdout=True, stderr=True, stdin=True, tty=True, _preload_content=False)
    resp.write_channel(4, json.dumps({"Width": 101, "Height": 33}))
    out = []
    while resp.is_open():
        resp.update(timeout=1)
        if resp.peek_stdout():
            out.append(resp.read_stdout())
    assert "".join(out).split() == ["33", "101", pod]


CONNECTION_PLAYBOOK = """
- hosts: analyser
  gather_facts: false
  tasks:
    - name: checkpoints
      ansible.builtin.find: {paths: /checkpoints}
    - name: put
      ansible.builtin.copy: {content: "notes\\n", dest: /root/notes.txt}
    - name: get
      ansible.builtin.fetch: {src: /root/notes.txt, dest: "{{ dest }}", flat: true}
"""


@pytest.mark.skipif(kubectl_minor() < WEBSOCKET_KUBECTL_MINOR,
                    reason="the kubectl connection plugin needs kubectl >= 1.%d (%s)"
                    % (WEBSOCKET_KUBECTL_MINOR, KUBECTL))
def test_the_kubectl_connection_plugin_runs_modules_in_pods(cluster, ansible, v1, apps, ns,
                                                            tmp_path):
    apps.create_namespaced_daemon_set(ns, _daemonset("conn", {
        "nodeSelector": {"kubernetes.io/hostname": "worker-0"},
        "volumes": [{"name": "ck", "hostPath": {"path": "/var/lib/kubelet/checkpoints"}}]},
        {"volumeMounts": [{"name": "ck", "mountPath": "/checkpoints", "readOnly": True}]}))
    pod = _ds_pods(v1, ns, "conn")[0].metadata.name
    with open(os.path.join(cluster.sim.checkpoint_dir("worker-0"), "checkpoint-x.tar"),
              "w") as handle:
        handle.write("x")
    inventory = tmp_path / "pods.ini"
    inventory.write_text(
        "analyser ansible_connection=kubernetes.core.kubectl ansible_kubectl_pod=%s "
        "ansible_kubectl_namespace=%s ansible_kubectl_kubeconfig=%s "
        "ansible_python_interpreter=/usr/bin/python3\n" % (pod, ns, cluster.kubeconfig))
    dest = tmp_path / "notes.txt"
    result = ansible.playbook(CONNECTION_PLAYBOOK, extra_vars={"dest": str(dest)},
                              inventory=str(inventory))
    assert result.rc == 0, result.stdout[-3000:]
    found = result.task_results("checkpoints", host="analyser")[0]
    assert [f["path"] for f in found["files"]] == ["/checkpoints/checkpoint-x.tar"]
    assert dest.read_text() == "notes\n"
