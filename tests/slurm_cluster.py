"""A real single-node Slurm cluster for tests: munged, slurmctld and slurmd on this machine.

Debian's ``slurm-wlm`` and ``munge`` packages, no systemd, no cgroups, no accounting
database (``sacct`` does not work: the pipeline queries job states with ``squeue``,
which is why ``MinJobAge`` is kept well above the status-check interval).

:func:`slurm_cluster` writes ``slurm.conf`` (state, spool, pid and log files under a
scratch folder; ports picked free), links it to ``/etc/slurm/slurm.conf`` (``srun``
inside a job ignores ``SLURM_CONF``; an existing file is moved aside and put back
afterwards) and sets ``SLURM_CONF`` for this process; starts ``munged`` on a private
socket, ``slurmctld`` and ``slurmd -N localhost`` in the foreground; waits until the
node is idle; and stops exactly those processes (by PID) at the end.

Needs root (the daemons run as root, ``munged`` as the ``munge`` user). Without
the programs, or without root, the Slurm tests are skipped, unless
``HELGENOM_REQUIRE_SLURM=1`` (as in CI), where they fail instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_SLURM = os.environ.get("HELGENOM_REQUIRE_SLURM") == "1"
PARTITION = "helgenom"
"""The cluster's one partition (the default partition)."""
NODE = "localhost"
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
LOCK_PATH = Path(tempfile.gettempdir()) / "helgenom-slurm-cluster.lock"
"""Held while a test cluster owns /etc/slurm/slurm.conf (one cluster per machine)."""
BACKUP_SUFFIX = ".helgenom-backup"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "srun", "scontrol")
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
MIN_JOB_AGE = 300
"""Seconds a finished job stays visible to ``squeue`` (the pipeline's status command)."""


class SlurmClusterError(RuntimeError):
    """The test cluster could not be started."""


@dataclass(frozen=True)
class SlurmCluster:
    """A running single-node cluster."""

    root: Path
    """Scratch folder: slurm.conf, state, spool, pid and log files."""
    conf: Path
    """Its slurm.conf (also linked at /etc/slurm/slurm.conf while it runs)."""
    partition: str
    """The (default) partition."""
    cpus: int
    """CPUs of the one node."""
    memory_mb: int
    """RealMemory of the one node."""
    slurmctld_log: Path
    slurmd_log: Path

    def squeue(self, *args: str) -> str:
        """Output of ``squeue ARGS`` against this cluster."""
        return subprocess.run(
            ["squeue", *args], check=True, capture_output=True, text=True, timeout=30
        ).stdout

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still knows (finished ones for ``MinJobAge`` seconds)."""
        fields = {
            "id": "%i",
            "name": "%j",
            "comment": "%k",
            "state": "%T",
            "partition": "%P",
            "cpus": "%C",
            "memory": "%m",
            "time_limit": "%l",
            "workdir": "%Z",
        }
        text = self.squeue("--states=all", "--noheader", "--format", "|".join(fields.values()))
        return [dict(zip(fields, line.split("|"), strict=True)) for line in text.splitlines()]


def find_program(name: str) -> str | None:
    """``name`` on PATH or in the sbin folders (daemons live there; PATH may lack them)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_requirements() -> str | None:
    """Why a test cluster cannot run here, or None."""
    missing = [name for name in (*DAEMONS, *CLIENTS) if find_program(name) is None]
    if missing:
        return (
            f"needs Slurm and munge ({', '.join(missing)} not found): "
            "apt-get install slurm-wlm munge"
        )
    if os.geteuid() != 0:
        return "needs root to start slurmctld, slurmd and munged"
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "needs the munge user (apt-get install munge)"
    if not Path("/etc/munge/munge.key").exists():
        return "needs /etc/munge/munge.key (apt-get install munge creates it)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_memory_mb() -> int:
    """RealMemory for the node: 90 % of the machine's memory (slurmd refuses more)."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return max(512, int(int(line.split()[1]) / 1024 * 0.9))
    raise SlurmClusterError("cannot read MemTotal from /proc/meminfo")


def write_conf(root: Path, munge_socket: Path, cpus: int, memory_mb: int) -> Path:
    for folder in ("state", "spool"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    lines = [
        "ClusterName=helgenomtest",
        "SlurmctldHost=localhost(127.0.0.1)",
        f"SlurmctldPort={free_port()}",
        f"SlurmdPort={free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU_Memory",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000",
        "MpiDefault=none",
        "ReturnToService=2",
        f"MinJobAge={MIN_JOB_AGE}",
        "KillWait=5",
        f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
    ]
    conf = root / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="ascii")
    return conf


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:].strip() or "(empty)"
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@contextlib.contextmanager
def _machine_lock(timeout: float = 600.0) -> Iterator[None]:
    """One test cluster per machine: it owns /etc/slurm/slurm.conf."""
    with LOCK_PATH.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SlurmClusterError(
                        f"another test Slurm cluster held {LOCK_PATH} for {timeout:.0f} s"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _system_conf_linked(conf: Path) -> Iterator[None]:
    """Point /etc/slurm/slurm.conf at ``conf``; put back what was there before."""
    folder = SYSTEM_CONF.parent
    created_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    backup = SYSTEM_CONF.with_name(SYSTEM_CONF.name + BACKUP_SUFFIX)
    if backup.exists() or backup.is_symlink():
        # left by a test run that was killed: the original is in the backup
        if SYSTEM_CONF.is_symlink() or not SYSTEM_CONF.exists():
            SYSTEM_CONF.unlink(missing_ok=True)
            os.replace(backup, SYSTEM_CONF)
        else:
            raise SlurmClusterError(
                f"both {SYSTEM_CONF} and {backup} exist: restore {SYSTEM_CONF} by hand"
            )
    if SYSTEM_CONF.is_symlink() and not SYSTEM_CONF.exists():
        SYSTEM_CONF.unlink()  # dangling (a killed test run's): of no use to anyone
    had_conf = SYSTEM_CONF.exists()
    if had_conf:
        os.replace(SYSTEM_CONF, backup)
    try:
        SYSTEM_CONF.symlink_to(conf)
        yield
    finally:
        if SYSTEM_CONF.is_symlink() and os.readlink(SYSTEM_CONF) == str(conf):
            SYSTEM_CONF.unlink()
        if had_conf:
            os.replace(backup, SYSTEM_CONF)
        elif created_folder:
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _start(command: list[str], log: Path, user: str | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            start_new_session=True,  # a Ctrl-C of the tests reaches them through us only
        )


def _wait_for(
    what: str,
    ready: Callable[[], bool],
    processes: dict[str, subprocess.Popen[bytes]],
    logs: dict[str, Path],
    timeout: float,
) -> None:
    """Wait until ``ready()``; fail early when one of ``processes`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise SlurmClusterError(
                    f"{name} exited with status {process.returncode}: {_tail(logs[name])}"
                )
        if ready():
            return
        time.sleep(0.1)
    raise SlurmClusterError(
        f"{what} within {timeout:.0f} s; "
        + "; ".join(f"{name}: {_tail(log, 600)}" for name, log in logs.items())
    )


def _munge_ready(munge_socket: Path) -> bool:
    munge = subprocess.run(
        ["munge", "--socket", str(munge_socket), "--no-input"],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return munge.returncode == 0


def _node_state() -> str:
    try:
        sinfo = subprocess.run(
            ["sinfo", "--noheader", "--format", "%T"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return ""
    return sinfo.stdout.strip() if sinfo.returncode == 0 else ""


def _cancel_jobs(timeout: float = 20.0) -> None:
    """Cancel what is still queued or running, and wait for it to end."""
    subprocess.run(["scancel", "--quiet", "--partition", PARTITION], check=False, timeout=30)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        squeue = subprocess.run(
            ["squeue", "--noheader", "--format", "%i"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if squeue.returncode != 0 or not squeue.stdout.strip():
            return
        time.sleep(0.2)


@contextlib.contextmanager
def slurm_cluster(root: Path, *, timeout: float = 60.0) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd for a cluster kept in ``root``; stop them after."""
    root.mkdir(parents=True, exist_ok=True)
    cpus = max(1, min(2, os.cpu_count() or 1))
    memory_mb = node_memory_mb()
    programs = {name: find_program(name) for name in DAEMONS}
    with contextlib.ExitStack() as stack:
        stack.enter_context(_machine_lock())
        # munged runs as the munge user: its socket folder lies outside pytest's
        # root-only temporary folders.
        munge_dir = Path(tempfile.mkdtemp(prefix="helgenom-munge-"))
        stack.callback(shutil.rmtree, munge_dir, True)
        munge_user = pwd.getpwnam("munge")
        os.chown(munge_dir, munge_user.pw_uid, munge_user.pw_gid)
        munge_dir.chmod(0o755)  # munged wants its socket folder open to every client
        munge_socket = munge_dir / "munge.socket"
        conf = write_conf(root, munge_socket, cpus, memory_mb)
        stack.enter_context(_system_conf_linked(conf))
        stack.enter_context(_environment("SLURM_CONF", str(conf)))  # never a real cluster's
        logs = {
            "munged": munge_dir / "munged.out",
            "slurmctld": root / "slurmctld.log",
            "slurmd": root / "slurmd.log",
        }
        processes: dict[str, subprocess.Popen[bytes]] = {}
        munged = _start(
            [
                str(programs["munged"]),
                "--foreground",
                f"--socket={munge_socket}",
                f"--pid-file={munge_dir / 'munged.pid'}",
                f"--log-file={munge_dir / 'munged.log'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
            ],
            munge_dir / "munged.out",
            user="munge",
        )
        stack.callback(_stop, munged)
        processes["munged"] = munged
        _wait_for(
            "munged did not answer", lambda: _munge_ready(munge_socket), processes, logs, timeout
        )
        slurmctld = _start(
            [str(programs["slurmctld"]), "-D", "-i", "-f", str(conf)], root / "slurmctld.out"
        )
        stack.callback(_stop, slurmctld)
        processes["slurmctld"] = slurmctld
        slurmd = _start(
            [str(programs["slurmd"]), "-D", "-N", NODE, "-f", str(conf)], root / "slurmd.out"
        )
        stack.callback(_stop, slurmd)
        processes["slurmd"] = slurmd
        # stop order (callbacks run in reverse): cancel jobs, slurmd, slurmctld, munged
        stack.callback(_cancel_jobs)
        _wait_for(
            "the node did not become idle",
            lambda: _node_state() == "idle",
            processes,
            logs,
            timeout,
        )
        yield SlurmCluster(
            root=root,
            conf=conf,
            partition=PARTITION,
            cpus=cpus,
            memory_mb=memory_mb,
            slurmctld_log=logs["slurmctld"],
            slurmd_log=logs["slurmd"],
        )


@contextlib.contextmanager
def slurm_cluster_or_skip(root: Path) -> Iterator[SlurmCluster]:
    """A running cluster; skips the test without Slurm (fails if HELGENOM_REQUIRE_SLURM=1)."""
    reason = missing_requirements()
    if reason is not None:
        if REQUIRE_SLURM:
            pytest.fail(f"HELGENOM_REQUIRE_SLURM=1 but the Slurm test cluster {reason}")
        pytest.skip(f"the Slurm test cluster {reason}")
    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(slurm_cluster(root))
        except (SlurmClusterError, OSError, subprocess.SubprocessError) as exc:
            if REQUIRE_SLURM:
                pytest.fail(
                    f"HELGENOM_REQUIRE_SLURM=1 but the Slurm test cluster did not start: {exc}"
                )
            pytest.skip(f"the Slurm test cluster did not start: {exc}")
        yield cluster
