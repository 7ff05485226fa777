"""The engine as three processes: the HTTP API (requests and the ingest writer) in the parent, the evaluator and
the dispatcher each in a child of their own.

Why: one Python process runs one thread of Python at a time (the GIL). Measured in one process, request
handling, evaluation and delivery queued behind each other: ingest stalled at ~7,000 events/s and the
event-to-firing tail grew with load although a second core sat idle. Split, each part has a core's worth of
Python to itself; they share nothing but the database, which already holds every hand-over (events, the
evaluation cursor, the outbox), so durability and crash recovery are unchanged.

Wake-ups cross processes as one-byte datagrams on socket pairs made by the parent (`Wakeups`): ingest commits
and automation writes wake the evaluator, new outbox rows wake the dispatcher, outcome events wake the evaluator.
A lost wake-up costs nothing but latency: both loops also wake on their own deadlines.

The parent forks the children once it has imported the engine's code and migrated the schema, before it starts
any thread (`Children.start`): a forked child shares the parent's memory pages for as long as neither writes to
them (the parent freezes its start-up objects out of the garbage collector first, so collections do not write to
them either), so the two children add 15–25 MB each instead of the ~60 MB a freshly started interpreter
loading the same modules costs. A child that dies is replaced by a spawned one (`python -m
tocsin.server.processes ROLE`): forking a process that runs threads is unsafe. Each child names itself
(`tocsin-eval`, `tocsin-dispatch` in `ps -e`, `top`, /proc/PID/comm).

The parent restarts a child that dies, and at shutdown stops them in pipeline order (after the ingest writer has
committed, the evaluator drains, then the dispatcher). A child asks the kernel to SIGKILL it when the parent
dies (PR_SET_PDEATHSIG), so `kill -9` of the server takes the whole engine down at once, as a crash would; what
was committed is recovered at the next start.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("tocsin.server.processes")
ROLES = ("evaluator", "dispatcher")  # stopped in this order: the evaluator's last firings reach the outbox
WAKE_FDS_ENV = "TOCSIN_WAKE_FDS"
PARENT_ENV = "TOCSIN_PARENT_PID"
RESTART_BACKOFF_MAX = 30.0  # seconds between restarts of a child that keeps dying
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
PROCESS_NAMES = {"evaluator": "tocsin-eval", "dispatcher": "tocsin-dispatch"}  # /proc/PID/comm: 15 bytes at most
# The roles' code, imported by the parent before it forks. A module a forked child imports itself costs it about
# three times the module's size: its objects land in, and its code touches, pages it shares with the parent,
# which the kernel then copies. Measured: the dispatcher process 19.7 -> 11.8 MB private, all processes -4.5 MB
ROLE_MODULES = ("tocsin.delivery.planner", "tocsin.server.scheduler", "tocsin.delivery.dispatcher",
                "tocsin.delivery.http", "tocsin.delivery.redaction", "tocsin.secrets")
STOP = b"stop"


class Wakeups:
    """One datagram socket pair per child role: the role's process reads one end, every process writes the
    other. Sending never blocks: a full buffer means a wake-up is already pending."""

    def __init__(self, pairs: Mapping[str, tuple[socket.socket, socket.socket]]) -> None:
        self._pairs = dict(pairs)

    @classmethod
    def create(cls) -> Wakeups:
        pairs = {}
        for role in ROLES:
            receive, send = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            send.setblocking(False)
            for s in (receive, send):
                os.set_inheritable(s.fileno(), True)
            pairs[role] = (receive, send)
        return cls(pairs)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Wakeups:
        """The pairs a parent handed down (file descriptors named in TOCSIN_WAKE_FDS)."""
        spec = (environ if environ is not None else os.environ)[WAKE_FDS_ENV]
        pairs = {}
        for item in spec.split(","):
            role, receive_fd, send_fd = item.split(":")
            send = socket.socket(fileno=int(send_fd))
            send.setblocking(False)
            pairs[role] = (socket.socket(fileno=int(receive_fd)), send)
        return cls(pairs)

    def env_value(self) -> str:
        return ",".join(f"{role}:{r.fileno()}:{s.fileno()}" for role, (r, s) in self._pairs.items())

    def fds(self) -> tuple[int, ...]:
        return tuple(s.fileno() for pair in self._pairs.values() for s in pair)

    def send_stop(self, role: str) -> None:
        """Ask the role's process to finish its work and exit (blocking briefly if wake-ups fill the buffer)."""
        send = self._pairs[role][1]
        send.settimeout(5.0)
        try:
            send.send(STOP)
        finally:
            send.setblocking(False)

    def ring(self, role: str) -> None:
        try:
            self._pairs[role][1].send(b"!")
        except (BlockingIOError, InterruptedError):
            pass  # the buffer is full of wake-ups the receiver has not read yet
        except OSError:
            log.warning("cannot wake the %s", role, exc_info=True)

    def ringer(self, role: str) -> Callable[[], None]:
        return lambda: self.ring(role)

    def listen(self, role: str, callback: Callable[[], None], on_stop: Callable[[], None]) -> threading.Thread:
        """Call `callback` for every wake-up sent to `role` (many queued ones count once), and `on_stop` when
        the parent asks the process to stop, from a daemon thread."""
        receive = self._pairs[role][0]

        def loop() -> None:
            while True:
                receive.setblocking(True)
                try:
                    messages = [receive.recv(64)]
                except OSError:
                    return
                receive.setblocking(False)
                try:  # drain what is queued: one call serves them all
                    while True:
                        messages.append(receive.recv(64))
                except (BlockingIOError, InterruptedError):
                    pass
                callback()
                if STOP in messages:
                    on_stop()
                    return

        thread = threading.Thread(target=loop, name=f"tocsin-wake-{role}", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        for pair in self._pairs.values():
            for s in pair:
                s.close()


class Children:
    """The parent's side: start the role processes, restart one that dies, stop them in order."""

    def __init__(self, wakeups: Wakeups, environ: Mapping[str, str], stop_timeout: float) -> None:
        self.wakeups = wakeups
        self.environ = dict(environ)
        self.stop_timeout = stop_timeout
        self.procs: dict[str, subprocess.Popen[bytes] | ForkedChild] = {}
        self.restarts: dict[str, int] = {role: 0 for role in ROLES}
        self.metrics: Any = None  # tocsin.server.metrics.Metrics of the API process, set by create_app
        self.store: Any = None  # the API process's tocsin.store.Store, set by create_app: forked children reuse it
        self.preload = list(ROLE_MODULES)  # what `start` imports before forking; create_app may add to it
        self._stopping = False

    def start(self) -> None:
        """Start the role processes (once; later calls do nothing), after the database schema is migrated: they
        do not migrate. Call from the main thread: PR_SET_PDEATHSIG fires when the thread that started a child
        ends. Forked while this process runs no other thread, spawned otherwise."""
        if self.procs:
            return
        fork = hasattr(os, "fork") and threading.active_count() == 1
        if fork:
            for module in self.preload:  # imported once here and shared, instead of copied into each child
                importlib.import_module(module)
            gc.freeze()  # start-up objects: the collector no longer writes to the pages the children share
        for role in ROLES:
            if fork:
                self._fork(role)
            else:
                self._spawn(role)

    def _fork(self, role: str) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: run the role, never return into the parent's code
            code = 1
            gc.enable()  # `tocsin server` starts up with the collector off
            try:
                os.environ.clear()
                os.environ.update({**self.environ, PARENT_ENV: str(parent)})
                code = run_role(role, self.wakeups, self.store, self.metrics)
            except BaseException:  # report, then leave without running the parent's cleanup
                log.exception("the %s process failed", role)
            finally:
                os._exit(code)
        self.procs[role] = ForkedChild(pid)
        log.info("started the %s process", role, extra={"pid": pid})

    def _spawn(self, role: str) -> None:
        env = {**self.environ, WAKE_FDS_ENV: self.wakeups.env_value(), PARENT_ENV: str(os.getpid())}
        self.procs[role] = subprocess.Popen([sys.executable, "-m", "tocsin.server.processes", role], env=env,
                                            pass_fds=self.wakeups.fds(), stdin=subprocess.DEVNULL)
        log.info("started the %s process", role, extra={"pid": self.procs[role].pid})

    async def supervise(self) -> None:
        """Restart a child that exits while the server runs (with backoff), on the event loop's thread."""
        while not self._stopping:
            await asyncio.sleep(0.2)
            for role, proc in list(self.procs.items()):
                if self._stopping or proc.poll() is None:
                    continue
                _mark_dead(proc.pid)
                self.restarts[role] += 1
                if self.metrics is not None:
                    self.metrics.process_restarts.labels(role=role).inc()
                delay = min(RESTART_BACKOFF_MAX, 0.5 * 2 ** min(self.restarts[role] - 1, 6))
                log.error("the %s process exited with %s; restarting it in %.1f s", role, proc.returncode, delay)
                await asyncio.sleep(delay)
                if not self._stopping:
                    self._spawn(role)

    def stop(self) -> None:
        """Stop each child in pipeline order and wait for it to finish its work (bounded)."""
        self._stopping = True
        for role in ROLES:
            proc = self.procs.get(role)
            if proc is None or proc.poll() is not None:
                continue
            try:
                self.wakeups.send_stop(role)
            except OSError:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.error("the %s process did not stop in %.0f s; killing it", role, self.stop_timeout)
                proc.kill()
                proc.wait(5)
            _mark_dead(proc.pid)

    def pids(self) -> dict[str, int]:
        return {role: p.pid for role, p in self.procs.items() if p.poll() is None}


class ForkedChild:
    """A forked child, with the part of subprocess.Popen's interface `Children` uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _mark_dead(pid: int) -> None:
    """Drop a finished process's live gauges from the shared metrics directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has."""
    if not _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL):  # not Linux: fall back to watching the parent
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="tocsin-parent-watch", daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _prctl(option: int, value: Any) -> bool:
    """Linux prctl(2) through libc; False where there is none."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return True


def _name_process(role: str) -> None:
    """Show the role in `ps -e`, `top` and /proc/PID/comm (a forked child's command line is the parent's)."""
    _prctl(_PR_SET_NAME, PROCESS_NAMES[role].encode())


def run_role(role: str, wakeups: Wakeups | None = None, store: Any = None, metrics: Any = None) -> int:
    """A child process: run one role until the parent says stop (drain, then exit) or dies (SIGKILL).
    Forked, it is handed the parent's socket pairs, store and metrics (prometheus_client writes a forked
    process's values to files of its own pid); spawned, it reads TOCSIN_WAKE_FDS and opens the store itself.

    SIGINT and SIGTERM are ignored: Ctrl-C, `timeout` and service managers signal the whole process group, and
    the parent, which gets the same signal, stops the children in pipeline order after its own last commit."""
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    _die_with_parent(int(os.environ[PARENT_ENV]))
    _name_process(role)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.setswitchinterval(0.005)  # the interpreter's default; the API process shortens its own
    stop = threading.Event()

    from tocsin.clock import SystemClock
    from tocsin.server.logs import configure
    from tocsin.server.metrics import Metrics
    from tocsin.server.settings import Settings
    from tocsin.store import Store

    configure(os.environ.get("TOCSIN_LOG_LEVEL", "INFO").upper())
    if role == "evaluator":
        from tocsin.delivery.planner import plan
        from tocsin.server.scheduler import EvaluationWorker
    else:
        from tocsin.delivery.dispatcher import Dispatcher
        from tocsin.delivery.redaction import RedactingVault, install_log_redaction
        from tocsin.secrets import SecretBox
    wakeups = wakeups or Wakeups.from_env()
    settings = Settings.from_env()
    if store is not None:
        store = store.for_forked_child()
    else:
        store = Store.open(settings.database_url, migrate_schema=False, synchronous=settings.sqlite_synchronous)
    clock, metrics = SystemClock(), metrics or Metrics()
    component: object
    if role == "evaluator":
        worker = EvaluationWorker(store, clock, settings, metrics, action_planner=plan)
        worker.on_outbox = wakeups.ringer("dispatcher")
        wakeups.listen("evaluator", worker.notify, stop.set)
        worker.start()
        component = worker
    else:
        vault = RedactingVault(store, clock, SecretBox.from_environment(settings.secret_environment()))
        vault.load_everything()
        install_log_redaction(vault.redactor)
        dispatcher = Dispatcher(store, clock, settings, metrics, vault, on_events=wakeups.ringer("evaluator"))
        wakeups.listen("dispatcher", dispatcher.notify, stop.set)
        dispatcher.start()
        component = dispatcher
    log.info("%s process ready", role, extra={"instance": settings.instance_id})
    stop.wait()
    component.stop()  # type: ignore[attr-defined]
    store.close()
    log.info("%s process stopped", role)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_role(sys.argv[1] if len(sys.argv) > 1 else ""))
