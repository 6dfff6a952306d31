# -*- coding: utf-8 -*-
# Copyright: forensic.checkpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``pods/exec`` over WebSocket: the Kubernetes channel sub-protocols.

Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error/status,
4 terminal resize. ``channel.k8s.io`` (v1) to ``v3`` report a failure on channel 3 as text;
``v4.channel.k8s.io`` reports the outcome as a JSON ``Status`` (exit codes in
``details.causes[reason=ExitCode]``); ``v5.channel.k8s.io`` adds a close signal (channel 255,
payload = the channel closed) so a client can close stdin (``kubectl cp``, ``kubectl exec -i``).
The ``base64.`` variants carry text frames with the channel as an ASCII digit.

The command runs for real, in the pod's bubblewrap sandbox (see sandbox.py). When a client
goes away without closing stdin (v4), stdin is closed then, and the command may finish (that is
how ``tar x`` completes for clients that cannot half-close).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import base64
import fcntl
import json
import logging
import os
import pty
import signal
import struct
import termios

from aiohttp import WSMsgType, web

from .sandbox import SandboxError

log = logging.getLogger("simcluster.exec")

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io",
             "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io",
             "base64.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
ORPHAN_GRACE = 60.0  # seconds a command may run on after its client left


def choose_protocol(header):
    offered = [p.strip() for p in (header or "").split(",") if p.strip()]
    for proto in offered:  # the client's order of preference, as wsstream does
        if proto in PROTOCOLS:
            return proto
    return None if offered else ""


class _Channel:
    def __init__(self, ws, protocol):
        self.ws = ws
        self.b64 = "base64" in protocol
        self.lock = asyncio.Lock()

    async def send(self, channel, data):
        if self.ws.closed:
            return
        try:
            async with self.lock:
                if self.b64:
                    await self.ws.send_str(str(channel) + base64.b64encode(data).decode())
                else:
                    await self.ws.send_bytes(bytes([channel]) + data)
        except (ConnectionResetError, RuntimeError):
            pass


def exit_status(code, command):
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command "
                       "[%s], exit code %d" % (" ".join(command), code),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


async def _pump(reader, channel, out):
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return
        await out.send(channel, chunk)


async def _pump_pty(fd, out):
    loop = asyncio.get_event_loop()
    queue = asyncio.Queue()

    def readable():
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        queue.put_nowait(data)
        if not data:
            loop.remove_reader(fd)
    loop.add_reader(fd, readable)
    while True:
        data = await queue.get()
        if not data:
            return
        await out.send(STDOUT, data)


async def serve(request, sim, pod, container, command, want_stdin, want_stdout, want_stderr,
                tty):
    protocol = choose_protocol(request.headers.get("Sec-WebSocket-Protocol"))
    ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), max_msg_size=0,
                               autoping=True)
    await ws.prepare(request)
    out = _Channel(ws, protocol or "channel.k8s.io")
    structured = protocol.startswith(("v4.", "v5."))
    try:
        argv, env = sim.sandbox.command(pod, container, command, tty)
    except SandboxError as exc:
        await _finish(out, structured, None, command, str(exc))
        await ws.close()
        return ws
    if sim.sandbox.resolve(command, env) is None:
        # what runc reports for a missing program; the shell convention's exit code 127
        await out.send(STDERR, ('exec failed: unable to start container process: exec: "%s":'
                                ' executable file not found in $PATH\n' % command[0]).encode())
        await _finish(out, structured, 127, command)
        await ws.close()
        return ws

    master = None
    if tty:
        master, slave = pty.openpty()
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
            close_fds=True)
        os.close(slave)
        pumps = [asyncio.ensure_future(_pump_pty(master, out))]
    else:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if want_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        pumps = [asyncio.ensure_future(_pump(proc.stdout, STDOUT, out)),
                 asyncio.ensure_future(_pump(proc.stderr, STDERR, out))]
    sim.track_process(proc)
    log.info("exec in %s/%s[%s]: %s", pod["metadata"]["namespace"], pod["metadata"]["name"],
             container, command)

    def close_stdin():
        if tty:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()

    async def read_client():
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                data = msg.data
            elif msg.type == WSMsgType.TEXT and out.b64 and msg.data:
                data = bytes([int(msg.data[0])]) + base64.b64decode(msg.data[1:])
            elif msg.type == WSMsgType.TEXT:
                # the API server reads a frame's payload whatever its opcode (the Python
                # client sends str stdin as text frames)
                data = msg.data.encode("utf-8")
            else:
                continue
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN and want_stdin and payload:
                try:
                    if tty:
                        os.write(master, payload)
                    elif proc.stdin is not None:
                        proc.stdin.write(payload)
                        await proc.stdin.drain()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass
            elif channel == RESIZE and tty:
                log.debug("resize %r", payload)
                try:
                    size = json.loads(payload)
                    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack(
                        "HHHH", int(size.get("Height", 24)), int(size.get("Width", 80)), 0, 0))
                except (ValueError, OSError):
                    pass
            elif channel == CLOSE and protocol.startswith("v5.") and payload[:1] == b"\0":
                close_stdin()
        close_stdin()  # the client is gone: EOF for the command, which may still finish

    reader = asyncio.ensure_future(read_client())
    try:
        code = await _wait_client_aware(proc, ws)
    finally:
        await asyncio.gather(*pumps, return_exceptions=True)
        if master is not None:
            os.close(master)
    await _finish(out, structured, code, command)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await ws.close()
    return ws


async def _wait_client_aware(proc, ws):
    """Wait for the command; once the client has left, give it ORPHAN_GRACE seconds."""
    waiter = asyncio.ensure_future(proc.wait())
    while not waiter.done():
        await asyncio.wait([waiter], timeout=0.5)
        if ws.closed and not waiter.done():
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), ORPHAN_GRACE)
            except asyncio.TimeoutError:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return await waiter
    return waiter.result()


async def _finish(out, structured, code, command, error=None):
    if structured:
        if error is not None:
            status = {"metadata": {}, "status": "Failure", "message": error,
                      "reason": "InternalError",
                      "details": {"causes": [{"message": error}]}}
        else:
            status = exit_status(code, command)
        await out.send(ERROR, json.dumps(status).encode())
    elif error is not None or code:
        await out.send(ERROR, (error or exit_status(code, command)["message"]).encode())
