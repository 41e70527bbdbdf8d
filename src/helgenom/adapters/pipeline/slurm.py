"""Running the workflow's steps as Slurm jobs (``snakemake-executor-plugin-slurm``).

``run_pipeline(..., executor="slurm", slurm=SlurmSettings(partition="genomics"))``
runs the same Snakefile as the local executor, with the same run folder, products,
provenance and resumption; only where the steps run differs. Each step of the
sample (align, markdup, cram, call, vcf, qc) becomes a Slurm job of its own; the
``provenance`` step and the bookkeeping stay in the calling process. One job per
step (not one job per sample) keeps resumption exact: a failed step does not
discard the finished steps before it.

What the cluster must offer:

* the Slurm client programs (``sbatch``, ``squeue``, ``sinfo``, ``scancel``,
  ``scontrol``; ``srun`` on the compute nodes) and a reachable ``slurmctld``;
* the run folder, the reference and this Python environment (``sys.executable``)
  on a file system shared with the compute nodes, under the same paths;
* with ``status_command="squeue"`` (the default: it needs no accounting database),
  a ``MinJobAge`` well above the longest pause between status checks, because a
  finished job must still be listed when the next check comes.

Jobs run without an account unless ``account`` is given, in ``partition`` or the
cluster's default partition. Memory and wall time per step come from
:func:`step_resources` (sized from the reference's index and the thread count) and
can be overridden per step. Each Slurm job's log is kept in ``logs/slurm/`` of the
run folder (``logs/slurm/rule_STEP/JOBID.log``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import math
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helgenom.adapters.pipeline import layout
from helgenom.adapters.pipeline.reference import ReferenceInfo
from helgenom.core.errors import InvalidInputError, PipelineError

PLUGIN_MODULE = "snakemake_executor_plugin_slurm"
PLUGIN_PACKAGE = "snakemake-executor-plugin-slurm"
CLUSTER_STEPS = layout.STEPS[:-1]
"""Steps that run as Slurm jobs (``provenance`` runs in the calling process)."""
RESOURCE_NAMES = ("mem_mb", "runtime")
"""Resources a step may be given: memory (MB) and wall time (minutes)."""
STATUS_COMMANDS = ("squeue", "sacct")
CLIENT_PROGRAMS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol")
SLURM_LOG_DIR = "logs/slurm"
"""Slurm job logs, relative to the run folder."""
JOB_NAME_PREFIX = "helgenom"
"""Slurm job names are ``helgenom_RUNUUID`` (one id per Snakemake run)."""
SLURM_TIMEOUT = 30.0
"""Seconds to wait for a Slurm client command in the checks before a run."""
USABLE_NODE_STATES = frozenset({"idle", "mixed", "allocated", "completing", "planned", "reserved"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_BASE_MEMORY_MB = 1024
_STREAMING_MEMORY_MB = 2048
_RUNTIME_MINUTES = {
    "align": 24 * 60,
    "markdup": 12 * 60,
    "cram": 12 * 60,
    "call": 24 * 60,
    "vcf": 4 * 60,
    "qc": 8 * 60,
}
_NOISE = (
    "For further error details see the cluster/cloud log",  # appended to every job error
    "\n    sbatch call:",  # the whole command line follows
    "\n    sbatch script:",
)
_GENERIC = ("Exiting because a job execution failed",)
_MESSAGE_CHARS = 400


@dataclass(frozen=True, slots=True)
class SlurmSettings:
    """How the steps go to Slurm (an instance's Slurm settings)."""

    partition: str | None = None
    """Partition of every job; None: the cluster's default partition."""
    account: str | None = None
    """Account to charge; None: submit without ``--account``."""
    resources: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per-step overrides of :func:`step_resources`, e.g.
    ``{"align": {"mem_mb": 32000, "runtime": 600}}`` (MB, minutes)."""
    max_jobs: int = 4
    """Jobs of one run queued or running at once."""
    status_command: str = "squeue"
    """``squeue`` (no accounting database needed) or ``sacct`` (needs slurmdbd)."""
    status_check_seconds: int = 10
    """Pause between job status checks right after a job finished (the plugin then
    lengthens it by 10 s per check in which no job finished)."""
    max_status_check_seconds: int = 60
    """Longest pause between status checks (the plugin's own bound is 180 s)."""
    latency_wait_seconds: int = 30
    """Seconds to wait for a finished job's outputs to appear on the shared file system."""

    def __post_init__(self) -> None:
        for name in ("partition", "account"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and _NAME.fullmatch(value)):
                raise InvalidInputError(
                    f"Slurm {name} {value!r} is not a valid name: use 1-64 letters, digits, "
                    "'_', '.' or '-'"
                )
        if self.status_command not in STATUS_COMMANDS:
            raise InvalidInputError(
                f"unknown Slurm status command {self.status_command!r}: choose squeue or sacct"
            )
        for name in (
            "max_jobs",
            "status_check_seconds",
            "max_status_check_seconds",
            "latency_wait_seconds",
        ):
            _check_count(f"Slurm setting {name}", getattr(self, name))
        if self.max_status_check_seconds < self.status_check_seconds:
            raise InvalidInputError(
                "Slurm setting max_status_check_seconds must not be below status_check_seconds"
            )
        for step, values in self.resources.items():
            if step not in CLUSTER_STEPS:
                raise InvalidInputError(
                    f"Slurm resources for unknown step {step!r}: steps are "
                    f"{', '.join(CLUSTER_STEPS)}"
                )
            for name, value in values.items():
                if name not in RESOURCE_NAMES:
                    raise InvalidInputError(
                        f"unknown Slurm resource {name!r} for step {step}: give mem_mb "
                        "(MB) or runtime (minutes)"
                    )
                _check_count(f"Slurm resource {name} of step {step}", value)

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_dict` reads it back)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["resources"] = {step: dict(values) for step, values in self.resources.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlurmSettings:
        """Settings from a dict (a settings file, a worker request); absent keys default.

        Raises
        ------
        InvalidInputError
            An unknown key or a bad value.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown Slurm setting(s) {', '.join(unknown)}: known are "
                f"{', '.join(sorted(known))}"
            )
        values = dict(data)
        resources = values.get("resources", {})
        if not isinstance(resources, Mapping) or not all(
            isinstance(v, Mapping) for v in resources.values()
        ):
            raise InvalidInputError("Slurm resources must map steps to {mem_mb, runtime}")
        values["resources"] = {str(k): dict(v) for k, v in resources.items()}
        return cls(**values)


def _check_count(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{what} must be a whole number of at least 1, not {value!r}")


def _megabytes(size: str) -> int:
    """``768M`` / ``2G`` -> MB."""
    units = {"K": 1 / 1024, "M": 1, "G": 1024}
    return math.ceil(float(size[:-1]) * units[size[-1].upper()])


def step_resources(
    reference: ReferenceInfo,
    threads: int,
    overrides: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, dict[str, int]]:
    """Memory (``mem_mb``) and wall time (``runtime``, minutes) of each Slurm step.

    ``align`` holds the minimap2 index in memory: 1 GB plus 1.25 times the index
    file (about 10 GB for GRCh38). ``markdup`` sorts with ``SORT_MEMORY`` per thread
    plus 1 GB. The other steps stream and get 2 GB. The wall times are generous
    for a 30x human genome. ``overrides`` replaces values per step.
    """
    from helgenom.adapters.pipeline.steps import SORT_MEMORY  # imports mappy

    index_mb = reference.mmi_path.stat().st_size / 2**20 if reference.mmi_path.exists() else 0
    memory = {
        "align": _BASE_MEMORY_MB + math.ceil(1.25 * index_mb),
        "markdup": _BASE_MEMORY_MB + threads * _megabytes(SORT_MEMORY),
    }
    resources = {
        step: {
            "mem_mb": memory.get(step, _STREAMING_MEMORY_MB),
            "runtime": _RUNTIME_MINUTES[step],
        }
        for step in CLUSTER_STEPS
    }
    for step, values in (overrides or {}).items():
        resources[step].update(values)
    return resources


def _slurm_command(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed Slurm client commands, no shell
            args, capture_output=True, text=True, check=False, timeout=SLURM_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise PipelineError(
            f"Slurm did not answer `{' '.join(args)}` within {SLURM_TIMEOUT:.0f} s: check that "
            "slurmctld is running and reachable from this host"
        ) from None
    except OSError as exc:
        raise PipelineError(f"cannot run {args[0]} ({exc}): check the Slurm client") from None


def _last_line(process: subprocess.CompletedProcess[str]) -> str:
    lines = (process.stderr or process.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {process.returncode}"


def min_job_age() -> int | None:
    """The controller's ``MinJobAge`` in seconds (None when it cannot be read)."""
    config = _slurm_command(["scontrol", "show", "config"])
    if config.returncode != 0:
        return None
    for line in config.stdout.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "MinJobAge":
            match = re.match(r"\s*(\d+)\s*([A-Za-z]*)", value)
            if match:
                hours = match.group(2).lower() in ("h", "hour", "hours")
                return int(match.group(1)) * (3600 if hours else 1)
    return None


def check_cluster(settings: SlurmSettings) -> None:
    """Fail early, naming what to check, when the steps could not go to Slurm.

    Raises
    ------
    PipelineError
        The executor plugin or a Slurm client program is missing, the controller
        does not answer, the partition does not exist or is not up, none of its
        nodes can take jobs, or ``MinJobAge`` is too short for ``squeue``.
    """
    if importlib.util.find_spec(PLUGIN_MODULE) is None:
        raise PipelineError(
            f"the slurm executor needs {PLUGIN_PACKAGE}: install helgenom[slurm] "
            "(pip install 'helgenom[slurm]')"
        )
    missing = [name for name in CLIENT_PROGRAMS if shutil.which(name) is None]
    if missing:
        raise PipelineError(
            f"the slurm executor needs the Slurm client programs; {', '.join(missing)} "
            "not found on PATH: install the Slurm client (Debian: slurm-client) and "
            "check PATH"
        )
    sinfo = _slurm_command(["sinfo", "--noheader", "--format=%P|%a|%T"])
    if sinfo.returncode != 0:
        raise PipelineError(
            f"the Slurm cluster does not answer (sinfo: {_last_line(sinfo)}): check that "
            "slurmctld and munged are running and that SLURM_CONF or "
            "/etc/slurm/slurm.conf names the controller"
        )
    states: dict[str, set[str]] = {}
    availability: dict[str, str] = {}
    default: str | None = None
    for line in sinfo.stdout.splitlines():
        name, available, state = [*line.split("|"), "", ""][:3]
        if name.endswith("*"):
            name = name[:-1]
            default = name
        # sinfo flags a state with a suffix: * not responding, ~ powered off, ...
        states.setdefault(name, set()).add(state.rstrip("*~#!%$@^-"))
        availability[name] = available
    known = ", ".join(sorted(states)) or "none"
    partition = settings.partition or default
    if partition is None:
        raise PipelineError(
            f"the Slurm cluster has no default partition: give a partition in the Slurm "
            f"settings (partitions: {known})"
        )
    if partition not in states:
        raise PipelineError(f"Slurm partition {partition!r} does not exist: partitions are {known}")
    if availability[partition] != "up":
        raise PipelineError(
            f"Slurm partition {partition!r} is {availability[partition]}, not up: ask the "
            "cluster administrator (scontrol update PartitionName=... State=UP)"
        )
    if not USABLE_NODE_STATES & states[partition]:
        raise PipelineError(
            f"no node of Slurm partition {partition!r} can take jobs (node states: "
            f"{', '.join(sorted(states[partition]))}): check slurmd on the nodes "
            "(sinfo -R lists the reasons)"
        )
    if settings.status_command == "squeue":
        age = min_job_age()
        needed = 2 * settings.max_status_check_seconds + 30
        if age is not None and age < needed:
            raise PipelineError(
                f"Slurm keeps finished jobs for MinJobAge={age} s, too short for status "
                f"checks with squeue up to {settings.max_status_check_seconds} s apart "
                f"(needs >= {needed} s): raise MinJobAge in slurm.conf, lower "
                "max_status_check_seconds, or use status_command='sacct' (needs slurmdbd)"
            )


def active_jobs(workdir: Path) -> list[str]:
    """Ids of this platform's Slurm jobs still queued or running in ``workdir``."""
    squeue = _slurm_command(
        [
            "squeue",
            "--noheader",
            "--states=PENDING,CONFIGURING,RUNNING,COMPLETING,SUSPENDED,REQUEUED",
            "--format=%i|%j|%Z",
        ]
    )
    if squeue.returncode != 0:
        raise PipelineError(
            f"the Slurm cluster does not answer (squeue: {_last_line(squeue)}): check that "
            "slurmctld is running and reachable"
        )
    jobs = []
    for line in squeue.stdout.splitlines():
        job_id, name, folder = [*line.split("|"), "", ""][:3]
        if name.startswith(f"{JOB_NAME_PREFIX}_") and folder == str(workdir):
            jobs.append(job_id)
    return jobs


class _FailureLog(logging.Handler):
    """Keeps what Snakemake and the plugin log as errors (job failures, refused jobs)."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            message = getattr(record, "rule_msg", None)
            if message is None:
                message = record.getMessage()
            text = str(message)
            for noise in _NOISE:
                text = text.split(noise)[0]
            text = " ".join(text.split())[:_MESSAGE_CHARS]
            if text.startswith(_GENERIC):
                return
            rule = getattr(record, "rule_name", None)
            if rule:
                text = f"step {rule}: {text}" if text else ""
            if text and text not in self.sink:
                self.sink.append(text)


@dataclass(frozen=True, slots=True)
class SlurmWorkflow:
    """What the runner hands to Snakemake's API for one Slurm run."""

    resource_settings: dict[str, Any]
    """Keyword arguments of ``ResourceSettings``."""
    execution_settings: dict[str, Any]
    """Extra keyword arguments of ``ExecutionSettings``."""
    execute_workflow: dict[str, Any]
    """Extra keyword arguments of ``DAG.execute_workflow``."""
    max_status_check_seconds: int
    source_cache_parent: Path
    """Where the run's Snakemake source cache goes: the jobs are told its path, so it
    must be on the shared file system (the run folder's ``.snakemake``)."""
    failures: list[str] = field(default_factory=list)
    """What Snakemake or Slurm reported as errors during :meth:`running`."""

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Around ``execute_workflow``: bounds the status-check pause, records failures."""
        handler = _FailureLog(self.failures)
        snakemake_logger = logging.getLogger("snakemake.logging")
        snakemake_logger.addHandler(handler)
        try:
            with status_check_bound(self.max_status_check_seconds):
                yield
        finally:
            snakemake_logger.removeHandler(handler)

    def failure_summary(self, limit: int = 3) -> str:
        """The last reported errors, for an error message ('' when none)."""
        return "; ".join(self.failures[-limit:])


def slurm_workflow(
    settings: SlurmSettings, reference: ReferenceInfo, cores: int, workdir: Path
) -> SlurmWorkflow:
    """Snakemake settings that send every step but ``provenance`` to Slurm.

    Raises
    ------
    PipelineError
        The plugin refused the settings.
    """
    from snakemake.resources import Resources  # type: ignore[import-untyped,unused-ignore]
    from snakemake.settings.types import (  # type: ignore[import-untyped,unused-ignore]
        RemoteExecutionSettings,
    )
    from snakemake_executor_plugin_slurm import (  # type: ignore[import-untyped,unused-ignore]
        ExecutorSettings,
    )

    defaults = []
    if settings.partition is not None:
        defaults.append(f"slurm_partition={settings.partition!r}")
    if settings.account is not None:
        defaults.append(f"slurm_account={settings.account!r}")
    options: dict[str, Any] = {
        "status_command": settings.status_command,
        "init_seconds_before_status_checks": settings.status_check_seconds,
        "logdir": workdir / SLURM_LOG_DIR,
        "keep_successful_logs": True,
        "delete_logfiles_older_than": 0,
        "jobname_prefix": JOB_NAME_PREFIX,
        # plugin 2.8 submits without an account when it cannot guess one; later
        # versions may honour no_account
        "no_account": settings.account is None,
    }
    source_cache_parent = workdir / ".snakemake"
    source_cache_parent.mkdir(parents=True, exist_ok=True)
    known = {f.name for f in dataclasses.fields(ExecutorSettings)}
    try:
        executor_settings = ExecutorSettings(**{k: v for k, v in options.items() if k in known})
        default_resources = Resources.parse(defaults, allow_expressions=True, defaults="bare")
    except Exception as exc:
        raise PipelineError(f"the Slurm executor plugin refused the settings: {exc}") from exc
    return SlurmWorkflow(
        resource_settings={
            "cores": cores,
            "nodes": settings.max_jobs,
            "local_cores": 1,
            "default_resources": default_resources,
            "overwrite_resources": step_resources(reference, cores, settings.resources),
        },
        execution_settings={"latency_wait": settings.latency_wait_seconds},
        execute_workflow={
            "executor_settings": executor_settings,
            "remote_execution_settings": RemoteExecutionSettings(
                seconds_between_status_checks=settings.status_check_seconds
            ),
        },
        max_status_check_seconds=settings.max_status_check_seconds,
        source_cache_parent=source_cache_parent,
    )


@contextlib.contextmanager
def status_check_bound(seconds: int) -> Iterator[None]:
    """Bound the plugin's growing pause between job status checks while a run lasts.

    The plugin adds 10 s to the pause after each check in which no job finished, up
    to 180 s, so a step of a few seconds can wait minutes to be seen as done. The
    pause is the ``next_seconds_between_status_checks`` property of Snakemake's
    remote-executor interface; this caps the values the plugin sets. Process-wide
    while it lasts (a run is one per process anyway: Snakemake changes the
    working folder).
    """
    from snakemake_executor_plugin_slurm import (  # type: ignore[import-untyped,unused-ignore]
        Executor,
    )

    name = "next_seconds_between_status_checks"
    inherited = getattr(Executor, name, None)
    if name in vars(Executor) or not isinstance(inherited, property) or inherited.fset is None:
        yield  # already bounded, or the interface changed: keep the plugin's pacing
        return
    setter = inherited.fset

    def bounded(executor: Any, value: float) -> None:
        setter(executor, min(value, seconds))

    setattr(Executor, name, property(inherited.fget, bounded))
    try:
        yield
    finally:
        delattr(Executor, name)


__all__ = [
    "CLUSTER_STEPS",
    "SLURM_LOG_DIR",
    "SlurmSettings",
    "SlurmWorkflow",
    "active_jobs",
    "check_cluster",
    "min_job_age",
    "slurm_workflow",
    "status_check_bound",
    "step_resources",
]
