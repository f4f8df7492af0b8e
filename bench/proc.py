"""What /proc tells about a process: CPU time and resident memory; plus free ports."""

import contextlib
import os
import re
import socket
import time
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of all threads of ``pid`` so far, in seconds (clock-tick resolution)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state) of proc(5)
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of ``pid`` so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """utime + stime per thread of ``pid``: {tid: (thread name, seconds)}."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = (task / "comm").read_text().strip()
        except OSError:  # the thread ended
            continue
        tid = int(task.name)
        if tid == pid:
            name = "main thread (event loop)"
        else:  # SyncWorker_3 -> SyncWorker_*
            name = re.sub(r"_?\d+$", "_*", name) if name[-1:].isdigit() else name
        threads[tid] = (name, (int(fields[11]) + int(fields[12])) / _CLK_TCK)
    return threads


def thread_cpu_delta(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds per thread name between two ``thread_cpu`` readings, largest first."""
    used: dict[str, float] = {}
    for tid, (name, seconds) in after.items():
        used[name] = used.get(name, 0.0) + seconds - before.get(tid, (name, 0.0))[1]
    return dict(sorted(used.items(), key=lambda kv: -kv[1]))


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def own_cpu_seconds() -> float:
    """CPU time (user + system) of this process so far."""
    times = os.times()
    return times.user + times.system


def free_ports(count: int) -> list[int]:
    """Distinct TCP ports on 127.0.0.1 that nothing listens on right now.

    The probes stay bound until all are taken: one at a time, the system may
    hand the same port out twice.
    """
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def port_open(host: str, port: int) -> bool:
    """Whether a TCP connection to host:port is accepted."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(
    host: str, port: int, timeout: float, poll: float = 0.02, pid: int | None = None
) -> float:
    """Wait until host:port accepts connections; returns the monotonic time it first did.

    Raises TimeoutError, or RuntimeError if process ``pid`` ends first.
    """
    deadline = time.monotonic() + timeout
    while True:
        if port_open(host, port):
            return time.monotonic()
        if pid is not None and not alive(pid):
            raise RuntimeError(f"process {pid} ended before port {port} opened")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")
        time.sleep(poll)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself listens on TCP ``port``.

    A port taken from a probe is free again until Home Assistant binds it; anything else on
    the machine may bind it meanwhile, and a connection would then reach that instead."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()  # sl local_address rem_address st ... inode (field 9)
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    with contextlib.suppress(OSError):  # the process ended
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # that file descriptor closed meanwhile
                if os.readlink(fd) in inodes:
                    return True
    return False
