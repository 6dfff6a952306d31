# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the integration tests build on: a handle on the cluster under test (the simulator, or
a real cluster given by FORENSIC_KUBECONFIG) and a runner for ansible against it.

Both cluster kinds offer the same identities: ``admin`` and the least-privilege ones defined
in simcluster's data/identities.yaml. On a real cluster those manifests are applied
with the admin credentials and tokens are minted with the TokenRequest API (and everything is
deleted again at the end of the session).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

from simcluster.seed import IDENTITIES_FILE, load_identity_manifests

from .client import SimControl

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(TESTS_DIR)
KUBECTL = os.environ.get("KUBECTL", "kubectl")


def kubectl_minor():
    """kubectl's client minor version (0 when kubectl is missing or unreadable)."""
    try:
        proc = subprocess.run([KUBECTL, "version", "--client", "-o", "json"],
                              capture_output=True, text=True, timeout=60, check=False)
        minor = json.loads(proc.stdout)["clientVersion"]["minor"]
        return int("".join(ch for ch in minor if ch.isdigit()) or 0)
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        return 0


# exec and cp over WebSocket (the simulator speaks no SPDY) are kubectl's default from 1.30
WEBSOCKET_KUBECTL_MINOR = 30

# Fast timings for tests; a test can slow things down again with cluster.sim.settings().
# No image is preloaded: the checkpoint_analyser role builds the analyser in the cluster
# (ImageStream + BuildConfig) and the nodes pull it from the internal registry, as on OpenShift.
# ANALYSER_IMAGE is a locally built image only the benchmarks preload, to leave builds out.
ANALYSER_IMAGE = "localhost/forensic-checkpoint-analyser:0.1.0"
TEST_SETTINGS = ("--rollout-delay", "0.2", "--render-delay", "0.3", "--pod-start-delay", "0.1",
                 "--pod-stop-delay", "0.1", "--checkpoint-delay", "0.05")


class ClusterHandle:
    """The contract the integration tests code against."""

    real = False
    sim = None

    def __init__(self, kubeconfig, host, ca_cert):
        self.kubeconfig = kubeconfig
        self.host = host
        self.ca_cert = ca_cert

    def token(self, name):
        raise NotImplementedError

    def identities(self):
        raise NotImplementedError

    def env(self, identity=None):
        """K8S_AUTH_* variables for ansible (kubernetes.core) and KUBECONFIG for kubectl.

        Without ``identity``: the cluster's kubeconfig (admin). With one: host + bearer token
        of that identity, validated against the cluster CA."""
        if identity is None:
            env = {"K8S_AUTH_KUBECONFIG": self.kubeconfig, "KUBECONFIG": self.kubeconfig}
            context = self._context()
            if context:
                env["K8S_AUTH_CONTEXT"] = context
            return env
        env = {"K8S_AUTH_HOST": self.host, "K8S_AUTH_API_KEY": self.token(identity),
               "K8S_AUTH_VERIFY_SSL": "true" if self.ca_cert else "false"}
        if self.ca_cert:
            env["K8S_AUTH_SSL_CA_CERT"] = self.ca_cert
        return env

    def _context(self):
        return None

    def api_client(self, identity=None):
        """A ``kubernetes.client.ApiClient`` for ``identity`` (default: the kubeconfig)."""
        import kubernetes

        if identity is None:
            return kubernetes.config.new_client_from_config(config_file=self.kubeconfig,
                                                            context=self._context())
        config = kubernetes.client.Configuration()
        config.host = self.host
        config.api_key = {"authorization": "Bearer " + self.token(identity)}
        if self.ca_cert:
            config.ssl_ca_cert = self.ca_cert
        else:
            config.verify_ssl = False
        return kubernetes.client.ApiClient(config)

    def dynamic(self, identity=None):
        from kubernetes.dynamic import DynamicClient

        return DynamicClient(self.api_client(identity))

    def request(self, method, path, body=None, identity="admin", content_type=None,
                headers=None, timeout=60):
        """A raw HTTPS request as ``identity``: returns (status, headers, body bytes)."""
        import ssl
        import urllib.error
        import urllib.request

        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        head = {"Accept": "application/json"}
        if identity is not None:
            head["Authorization"] = "Bearer " + self.token(identity)
        if data is not None:
            head["Content-Type"] = content_type or "application/json"
        head.update(headers or {})
        context = ssl.create_default_context(cafile=self.ca_cert) if self.ca_cert else \
            ssl._create_unverified_context()
        request = urllib.request.Request(self.host + path, data=data, method=method,
                                         headers=head)
        try:
            with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def kubectl(self, *args, identity=None, input=None, timeout=120, check=False):
        """Run kubectl against the cluster; returns the CompletedProcess (text)."""
        argv = [KUBECTL, "--kubeconfig", self.kubeconfig]
        if identity is not None:
            argv = [KUBECTL, "--kubeconfig", os.devnull, "--server", self.host,
                    "--token", self.token(identity)]
            argv += ["--certificate-authority", self.ca_cert] if self.ca_cert else \
                ["--insecure-skip-tls-verify"]
        elif self._context():
            argv += ["--context", self._context()]
        return subprocess.run(argv + list(args), input=input, capture_output=True, text=True,
                              timeout=timeout, check=check)

    def close(self):
        pass


class SimulatedCluster(ClusterHandle):
    real = False

    def __init__(self, state_dir, ready):
        super().__init__(ready["kubeconfig"], ready["url"], ready["ca_cert"])
        self.state_dir = state_dir
        self.ready = ready
        with open(ready["tokens"]) as handle:
            self._tokens = json.load(handle)
        self.sim = SimControl(ready["url"], self._tokens["admin"]["token"], ready["ca_cert"])
        self.start_seconds = None
        self.start_output = ""

    @classmethod
    def start(cls, state_dir, extra_args=TEST_SETTINGS, timeout=60):
        """``python -m simcluster start --daemon``; measures the time to a serving cluster."""
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "simcluster", "start", "--state-dir",
                               state_dir, "--daemon"] + list(extra_args),
                              capture_output=True, text=True, timeout=timeout,
                              check=False)
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            log = os.path.join(state_dir, "daemon.out")
            detail = open(log).read()[-4000:] if os.path.exists(log) else ""
            raise RuntimeError("simcluster did not start: %s%s\n%s"
                               % (proc.stdout, proc.stderr, detail))
        with open(os.path.join(state_dir, "ready.json")) as handle:
            ready = json.load(handle)
        cluster = cls(state_dir, ready)
        cluster.start_seconds = elapsed
        cluster.start_output = proc.stdout
        return cluster

    def identities(self):
        return sorted(self._tokens)

    def token(self, name):
        if name not in self._tokens:
            with open(self.ready["tokens"]) as handle:  # identities added at run time
                self._tokens = json.load(handle)
        try:
            return self._tokens[name]["token"]
        except KeyError:
            raise KeyError("no identity %r; known: %s" % (name, ", ".join(sorted(self._tokens))))

    def _context(self):
        return "admin"

    def close(self):
        subprocess.run([sys.executable, "-m", "simcluster", "stop", "--state-dir",
                        self.state_dir], capture_output=True, timeout=30, check=False)


class RealCluster(ClusterHandle):
    """A real cluster from a kubeconfig (FORENSIC_KUBECONFIG, FORENSIC_KUBECONTEXT)."""

    real = True
    IDENTITIES = IDENTITIES_FILE

    def __init__(self, kubeconfig, context=None, workdir=None):
        with open(kubeconfig) as handle:
            config = yaml.safe_load(handle)
        context = context or config.get("current-context")
        ctx = next(c["context"] for c in config["contexts"] if c["name"] == context)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
        user = next((u.get("user") or {} for u in config.get("users") or []
                     if u["name"] == ctx.get("user")), {})
        self._workdir = workdir or tempfile.mkdtemp(prefix="forensic-real-")
        ca = cluster.get("certificate-authority")
        if ca and not os.path.isabs(ca):
            ca = os.path.join(os.path.dirname(os.path.abspath(kubeconfig)), ca)
        if not ca and cluster.get("certificate-authority-data"):
            import base64

            ca = os.path.join(self._workdir, "ca.pem")
            with open(ca, "wb") as handle:
                handle.write(base64.b64decode(cluster["certificate-authority-data"]))
        if cluster.get("insecure-skip-tls-verify"):
            ca = None
        super().__init__(os.path.abspath(kubeconfig), cluster["server"], ca)
        self._context_name = context
        self._admin_token = user.get("token")
        self._tokens = {}
        self._applied = False

    def _context(self):
        return self._context_name

    def identities(self):
        names = [d["metadata"]["name"] for d in self._manifests() if d["kind"] == "ServiceAccount"]
        return ["admin"] + sorted(names)

    def _manifests(self):
        return load_identity_manifests(self.IDENTITIES)

    def _apply_identities(self):
        if self._applied:
            return
        text = yaml.safe_dump_all(self._manifests())
        self.kubectl("apply", "-f", "-", input=text, check=True)
        self._applied = True

    def token(self, name):
        if name == "admin" and self._admin_token:
            return self._admin_token
        if name in self._tokens:
            return self._tokens[name]
        self._apply_identities()
        namespace = next(d["metadata"]["namespace"] for d in self._manifests()
                         if d["kind"] == "ServiceAccount")
        if name == "admin":
            # cluster-admin through a service account of our own, for token-less kubeconfigs
            self.kubectl("-n", namespace, "create", "serviceaccount", "admin")
            self.kubectl("create", "clusterrolebinding", "forensic-identities-admin",
                         "--clusterrole=cluster-admin",
                         "--serviceaccount=%s:admin" % namespace)
        proc = self.kubectl("-n", namespace, "create", "token", name, "--duration=2h",
                            check=False)
        if proc.returncode != 0:
            raise KeyError("no identity %r on this cluster: %s" % (name, proc.stderr.strip()))
        self._tokens[name] = proc.stdout.strip()
        return self._tokens[name]

    def close(self):
        if self._applied:
            self.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-",
                         input=yaml.safe_dump_all(self._manifests()))
            self.kubectl("delete", "--ignore-not-found", "clusterrolebinding",
                         "forensic-identities-admin")


# --- ansible ---------------------------------------------------------------------------------

class AnsibleResult(dict):
    """Parsed ``ansible.posix.json`` output plus the process's rc, stdout and stderr."""

    def __init__(self, data, rc, stdout, stderr):
        super().__init__(data)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    @property
    def stats(self):
        return self.get("stats", {})

    def task_results(self, name=None, host="localhost"):
        """Results of every task (or those named ``name``) for ``host``, in order."""
        out = []
        for play in self.get("plays", []):
            for task in play.get("tasks", []):
                if name is None or task["task"]["name"] == name:
                    if host in task["hosts"]:
                        out.append(task["hosts"][host])
        return out

    @property
    def failed(self):
        return self.rc != 0 or any(s.get("failures") or s.get("unreachable")
                                   for s in self.stats.values())


class Ansible:
    """Run ``ansible`` / ``ansible-playbook`` from the repository root against a cluster."""

    def __init__(self, cluster, python=None, root=REPO_ROOT):
        self.cluster = cluster
        self.python = python or sys.executable
        self.bindir = os.path.dirname(self.python)
        self.root = root
        # localhost as a real inventory host with its own vars, so that extra vars do not
        # override what other hosts (pods on the kubectl connection) need
        handle = tempfile.NamedTemporaryFile("w", prefix="inventory-", suffix=".ini",
                                             delete=False)
        handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                     % self.python)
        handle.close()
        self.inventory = handle.name

    def close(self):
        if os.path.exists(self.inventory):
            os.unlink(self.inventory)

    def _env(self, identity, extra):
        env = dict(os.environ)
        for key in [k for k in env if k.startswith("K8S_AUTH_")]:
            del env[key]
        env.update(self.cluster.env(identity))
        env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                    "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_FORCE_COLOR": "0",
                    "PATH": self.bindir + os.pathsep + env.get("PATH", "")})
        env.update(extra or {})
        return env

    def _run(self, argv, identity, env, timeout):
        proc = subprocess.run(argv, cwd=self.root, env=self._env(identity, env),
                              capture_output=True, text=True, timeout=timeout, check=False)
        start = proc.stdout.find("{")
        try:
            data = json.loads(proc.stdout[start:]) if start >= 0 else {}
        except ValueError:
            data = {}
        return AnsibleResult(data, proc.returncode, proc.stdout, proc.stderr)

    def module(self, name, args=None, identity=None, check=False, diff=False, env=None,
               timeout=600):
        """``ansible localhost -m NAME -a ARGS``; returns the module result (a dict) with
        ``.rc``, ``.stdout``, ``.stderr`` and ``.raw`` (the whole JSON document)."""
        argv = [os.path.join(self.bindir, "ansible"), "localhost", "-i", self.inventory,
                "-m", name]
        if args is not None:
            argv += ["-a", args if isinstance(args, str) else json.dumps(args)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        result = self._run(argv, identity, env, timeout)
        hosts = result.task_results()
        out = AnsibleResult(hosts[0] if hosts else {}, result.rc, result.stdout, result.stderr)
        out.raw = dict(result)
        return out

    def playbook(self, playbook, extra_vars=None, identity=None, check=False, diff=False,
                 env=None, inventory=None, timeout=1800, args=()):
        """``ansible-playbook PLAYBOOK``; ``playbook`` is a path or the YAML text of one."""
        path = playbook
        cleanup = None
        if "\n" in playbook or not os.path.exists(playbook):
            handle = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
            handle.write(playbook)
            handle.close()
            path = cleanup = handle.name
        argv = [os.path.join(self.bindir, "ansible-playbook"), "-i",
                inventory or self.inventory]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        argv += list(args) + [path]
        try:
            return self._run(argv, identity, env, timeout)
        finally:
            if cleanup:
                os.unlink(cleanup)


# --- waiting -----------------------------------------------------------------------------------

def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Poll ``predicate`` until it returns a truthy value (returned), or fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


def value_if(value, check):
    """``value`` when ``check(value)`` is truthy, else that falsy result: a ``wait_for``
    predicate that reads an object once and returns it when it matches."""
    return check(value) and value


def _cond(obj, kind):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return {}


def pool_rolled_out(pool, machine_config=None):
    """The MCO e2e rule: the pool's target lists ``machine_config`` (if given), the pool
    reports that target as its configuration, Updated=True, and every machine is updated."""
    spec = (pool.get("spec") or {}).get("configuration") or {}
    status = pool.get("status") or {}
    if machine_config and machine_config not in [s.get("name") for s in spec.get("source")
                                                 or []]:
        return False
    return (bool(spec.get("name"))
            and (status.get("configuration") or {}).get("name") == spec.get("name")
            and _cond(pool, "Updated").get("status") == "True"
            and status.get("updatedMachineCount") == status.get("machineCount"))


@contextlib.contextmanager
def simulated(state_dir, *options):
    """A simulated cluster started with the tests' fast settings plus ``options``, and an Ansible
    runner for it: ``(cluster, ansible)``, both closed afterwards."""
    handle = SimulatedCluster.start(state_dir, tuple(TEST_SETTINGS) + options)
    runner = Ansible(handle)
    try:
        yield handle, runner
    finally:
        runner.close()
        handle.close()
