# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m simcluster start|stop|status --state-dir DIR``.

``start`` writes DIR/kubeconfig (one context per identity, ``admin`` current), DIR/ca.pem,
DIR/tokens.json, DIR/simcluster.pid and, once it answers, DIR/ready.json; it serves in the
foreground, or detaches with ``--daemon`` after the server is ready. ``stop`` sends SIGTERM to
the recorded pid and waits for a clean exit.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time

from .config import Settings, SimConfig

PIDFILE = "simcluster.pid"
READY = "ready.json"
LOGFILE = "simcluster.log"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _write_private(path, text):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def kubeconfig_text(url, ca_path, identities):
    import yaml

    users = [{"name": name, "user": {"token": ident.token}}
             for name, ident in sorted(identities.items())]
    contexts = [{"name": name, "context": {"cluster": "simcluster", "user": name,
                                           "namespace": "default"}}
                for name in sorted(identities)]
    doc = {"apiVersion": "v1", "kind": "Config", "preferences": {},
           "clusters": [{"name": "simcluster", "cluster": {
               "server": url, "certificate-authority": ca_path}}],
           "users": users, "contexts": contexts, "current-context": "admin"}
    return "# Written by simcluster; regenerated on every start.\n" + yaml.safe_dump(
        doc, default_flow_style=False, sort_keys=False)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return b"simcluster" in handle.read()
    except OSError:
        return True


def _read_pid(state_dir):
    try:
        with open(os.path.join(state_dir, PIDFILE)) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _config_from(args):
    settings = Settings(rollout_delay=args.rollout_delay, render_delay=args.render_delay,
                        pod_start_delay=args.pod_start_delay, pod_stop_delay=args.pod_stop_delay,
                        checkpoint_delay=args.checkpoint_delay, drain=not args.no_drain,
                        node_utc_offset_minutes=args.node_utc_offset)
    return SimConfig(state_dir=os.path.abspath(args.state_dir), host=args.host, port=args.port,
                     openshift_version=args.openshift_version,
                     kubernetes_version=args.kubernetes_version, settings=settings,
                     identities_file=os.path.abspath(args.identities) if args.identities
                     else "", workers=args.workers, topology=args.topology,
                     pools=tuple(_pool(text) for text in args.pool),
                     workloads=tuple(args.workload),
                     preloaded_images=tuple(args.preloaded_image),
                     distribution=args.distribution)


def _workers(text):
    """--workers: a standard cluster needs one worker at least (its workloads run on workers)."""
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError("must be 1 or more (use --topology sno for one node)")
    return count


def _pool(text):
    name, _sep, members = text.partition("=")
    if not name or not members or name in ("master", "worker"):
        raise ValueError("--pool must look like infra=worker-2[,worker-3] (a custom pool name)")
    return name, tuple(m for m in members.split(",") if m)


async def serve(config, started):
    """Run the simulator until SIGTERM/SIGINT."""
    import trustme
    from aiohttp import web

    from .cluster import Simulator
    from .server import make_app

    state_dir = config.state_dir
    ca = trustme.CA(organization_name="simcluster")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1", common_name="simcluster")
    ca_path = os.path.join(state_dir, "ca.pem")
    ca_pem = ca.cert_pem.bytes().decode()
    _write_private(ca_path, ca_pem)
    os.chmod(ca_path, 0o644)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    sim = Simulator(config)
    sim.ca_pem = ca_pem
    app = make_app(sim)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    from .apiserver import Listener

    site = web.TCPSite(runner, config.host, config.port, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    # outages close and reopen the listening socket on the same port
    sim.apiserver.listener = Listener(runner, config.host, port, context)
    sim.apiserver.listener.site = site
    sim.port = port
    host = "[%s]" % config.host if ":" in config.host else config.host
    url = "https://%s:%d" % (host, port)

    def write_identities():
        _write_private(os.path.join(state_dir, "tokens.json"), json.dumps(
            {name: ident.as_dict() for name, ident in sorted(sim.identities.items())},
            indent=1) + "\n")
        _write_private(os.path.join(state_dir, "kubeconfig"),
                       kubeconfig_text(url, ca_path, sim.identities))
    sim.on_identities_changed = write_identities
    write_identities()
    await sim.start()
    elapsed = time.monotonic() - started
    ready = {"pid": os.getpid(), "url": url, "host": config.host, "port": port,
             "kubeconfig": os.path.join(state_dir, "kubeconfig"), "ca_cert": ca_path,
             "tokens": os.path.join(state_dir, "tokens.json"),
             "log": os.path.join(state_dir, LOGFILE),
             "openshift_version": config.openshift_version,
             "kubernetes_version": config.kubernetes_version,
             "started_in_seconds": round(elapsed, 3)}
    _write_private(os.path.join(state_dir, READY), json.dumps(ready, indent=1) + "\n")
    logging.getLogger("simcluster").info("ready in %.2fs at %s", elapsed, url)
    print("simcluster ready in %.2fs: %s (kubeconfig %s)" % (elapsed, url, ready["kubeconfig"]),
          flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        logging.getLogger("simcluster").info("stopping")
        await sim.stop()
        await runner.cleanup()
        for name in (READY, PIDFILE):
            try:
                os.unlink(os.path.join(state_dir, name))
            except FileNotFoundError:
                pass


def _setup_logging(state_dir, foreground, level):
    handlers = [logging.FileHandler(os.path.join(state_dir, LOGFILE))]
    if foreground:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=handlers,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def cmd_start(args):
    started = time.monotonic()
    if args.host not in LOOPBACK:
        print("simcluster: refusing to listen on %s: loopback only" % args.host, file=sys.stderr)
        return 2
    try:
        config = _config_from(args)
    except ValueError as exc:
        print("simcluster: %s" % exc, file=sys.stderr)
        return 2
    state_dir = config.state_dir
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    pid = _read_pid(state_dir)
    if pid and pid != os.getpid() and _pid_alive(pid):
        print("simcluster: already running in %s (pid %d)" % (state_dir, pid), file=sys.stderr)
        return 1
    if args.daemon:
        return _daemonize(args, state_dir, started)
    with open(os.path.join(state_dir, PIDFILE), "w") as handle:
        handle.write("%d\n" % os.getpid())
    _setup_logging(state_dir, not args.quiet, args.log_level)
    try:
        asyncio.run(serve(config, started))
    except OSError as exc:
        print("simcluster: %s" % exc, file=sys.stderr)
        return 1
    return 0


def _daemonize(args, state_dir, started):
    for name in (READY, PIDFILE):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    argv = [sys.executable, "-m", "simcluster"] + [a for a in sys.argv[1:] if a != "--daemon"]
    if "--quiet" not in argv:
        argv.append("--quiet")
    with open(os.path.join(state_dir, "daemon.out"), "wb") as out:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 start_new_session=True, close_fds=True)
    deadline = time.monotonic() + args.wait
    ready_path = os.path.join(state_dir, READY)
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print("simcluster: the server exited (status %s) during start; see %s"
                  % (child.returncode, os.path.join(state_dir, "daemon.out")), file=sys.stderr)
            return 1
        try:
            with open(ready_path) as handle:
                ready = json.load(handle)
            if ready.get("pid") == child.pid:
                elapsed = time.monotonic() - started
                print("simcluster ready in %.2fs: %s (pid %d, kubeconfig %s)"
                      % (elapsed, ready["url"], child.pid, ready["kubeconfig"]), flush=True)
                return 0
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    child.terminate()
    print("simcluster: not ready after %ss" % args.wait, file=sys.stderr)
    return 1


def cmd_stop(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _read_pid(state_dir)
    if not pid or not _pid_alive(pid):
        print("simcluster: not running in %s" % state_dir)
        for name in (READY, PIDFILE):
            try:
                os.unlink(os.path.join(state_dir, name))
            except FileNotFoundError:
                pass
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            print("simcluster: stopped (pid %d)" % pid)
            return 0
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    print("simcluster: pid %d did not stop in %ss; killed" % (pid, args.timeout),
          file=sys.stderr)
    return 1


def cmd_status(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _read_pid(state_dir)
    try:
        with open(os.path.join(state_dir, READY)) as handle:
            ready = json.load(handle)
    except (OSError, ValueError):
        ready = None
    if pid and _pid_alive(pid) and ready:
        print(json.dumps(ready, indent=1))
        return 0
    print("simcluster: not running in %s" % state_dir)
    return 3


def parser():
    top = argparse.ArgumentParser(prog="python -m simcluster",
                                  description="A simulated OpenShift cluster for tests and demos")
    subs = top.add_subparsers(dest="command", required=True)
    start = subs.add_parser("start", help="start the simulator")
    start.add_argument("--state-dir", required=True)
    start.add_argument("--daemon", action="store_true", help="detach once ready")
    start.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    start.add_argument("--port", type=int, default=0, help="0 picks a free port")
    start.add_argument("--openshift-version", default="4.13.0")
    start.add_argument("--workers", type=_workers, default=3, help="worker nodes (one master besides)")
    start.add_argument("--topology", default="standard", choices=("standard", "compact", "sno"),
                       help="standard: one master and --workers workers; compact: three "
                            "schedulable masters; sno: one schedulable master")
    start.add_argument("--workload", action="append", default=[],
                       choices=("counters", "lookup", "criu41-worker"),
                       help="also run this app in namespace demo (each checkpoints to its own "
                            "real archive)")
    start.add_argument("--preloaded-image", action="append", default=[], metavar="IMAGE",
                       help="an image already present on every node (e.g. loaded by hand): "
                            "runs without a pull unless imagePullPolicy is Always")
    start.add_argument("--pool", action="append", default=[], metavar="NAME=NODE[,NODE]",
                       help="a custom pool (inheriting worker MachineConfigs) holding these nodes")
    start.add_argument("--kubernetes-version", default="",
                       help="default: the one the OpenShift version ships (4.13 -> 1.26); "
                            "1.31.4 with --distribution kubernetes")
    start.add_argument("--distribution", default="openshift", choices=("openshift", "kubernetes"),
                       help="kubernetes: plain Kubernetes with CRI-O, no OpenShift API group "
                            "(no MachineConfigs, FeatureGate, builds, images, routes, SCCs)")
    defaults = Settings()
    start.add_argument("--rollout-delay", type=float, default=defaults.rollout_delay,
                       help="seconds the machine config daemon spends on one node")
    start.add_argument("--render-delay", type=float, default=defaults.render_delay,
                       help="seconds from a MachineConfig change to the new rendered config")
    start.add_argument("--pod-start-delay", type=float, default=defaults.pod_start_delay)
    start.add_argument("--pod-stop-delay", type=float, default=defaults.pod_stop_delay)
    start.add_argument("--checkpoint-delay", type=float, default=defaults.checkpoint_delay)
    start.add_argument("--node-utc-offset", type=int, default=0,
                       help="nodes' time zone in minutes east of UTC (checkpoint file names)")
    start.add_argument("--no-drain", action="store_true",
                       help="do not evict pods from nodes being updated")
    start.add_argument("--identities", default="",
                       help="YAML of extra static identities: name: {user, groups, rules}")
    start.add_argument("--wait", type=float, default=30.0, help="--daemon: seconds to wait")
    start.add_argument("--quiet", action="store_true", help="log to the state dir only")
    start.add_argument("--log-level", default="info")
    start.set_defaults(func=cmd_start)
    stop = subs.add_parser("stop", help="stop a running simulator")
    stop.add_argument("--state-dir", required=True)
    stop.add_argument("--timeout", type=float, default=10.0)
    stop.set_defaults(func=cmd_stop)
    status = subs.add_parser("status", help="print ready.json if running")
    status.add_argument("--state-dir", required=True)
    status.set_defaults(func=cmd_status)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    return args.func(args)
