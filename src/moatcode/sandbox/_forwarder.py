"""Runs inside the sandbox (never imported by Moat): the command's way to the egress proxy.

The sandbox has only its own loopback. This program listens on
``127.0.0.1:PORT`` there, starts the command (whose environment points
``HTTP_PROXY`` and friends at that port), relays each connection to the Unix
socket of Moat's proxy bound into the sandbox, and exits with the command's
exit status. It runs as ``python -I -S -B forwarder.py PORT SOCKET -- ARGV``:
standard library only, nothing from the project.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading


def main(args: list[str]) -> int:
    port, socket_path, command = int(args[0]), args[1], args[3:]
    # Listen before the command starts, so its first connection finds us.
    listener = socket.create_server(("127.0.0.1", port), backlog=64)
    try:
        pid = os.posix_spawnp(command[0], command, original_environment())
    except FileNotFoundError:
        print(f"{command[0]}: command not found", file=sys.stderr)
        return 127
    except PermissionError as exc:
        print(f"{command[0]}: {exc.strerror}", file=sys.stderr)
        return 126
    threading.Thread(target=accept, args=(listener, socket_path), daemon=True).start()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def original_environment() -> dict[bytes, bytes]:
    """The environment we were started with.

    Not ``os.environ``: in the C locale Python adds ``LC_CTYPE`` to it at start-up
    (PEP 538), and ``-I`` ignores the variable that turns that off. The kernel keeps
    the original in /proc/self/environ.
    """
    with open("/proc/self/environ", "rb") as f:
        entries = f.read().split(b"\0")
    pairs = (entry.partition(b"=") for entry in entries if b"=" in entry)
    return {name: value for name, _, value in pairs}


def accept(listener: socket.socket, socket_path: str) -> None:
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=relay, args=(conn, socket_path), daemon=True).start()


def relay(conn: socket.socket, socket_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
    except OSError:
        conn.close()
        upstream.close()
        return
    back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
    back.start()
    pump(conn, upstream)
    back.join()
    conn.close()
    upstream.close()


def pump(src: socket.socket, dst: socket.socket) -> None:
    # An error means one side went away; the shutdown tells the other side.
    with contextlib.suppress(OSError):
        while data := src.recv(1 << 16):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
