"""The workflow on a real single-node Slurm cluster (``executor="slurm"``).

The cluster (munged, slurmctld, slurmd from Debian) is started once per session by
:mod:`slurm_cluster`; without Slurm or root these tests are skipped, unless
``HELGENOM_REQUIRE_SLURM=1`` (as in CI). The sample is the small simulated one of
``test_pipeline.py`` (same seed); it runs once locally and once through Slurm, and
the two runs must call the same variants. Status checks are paced at 1-2 s here so
that the module stays near a minute (every step is a Slurm job that starts
Snakemake twice).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pysam
import pytest
import sqlalchemy as sa

from conftest import World
from helgenom.adapters.catalog.schema import audit_log, samples
from helgenom.adapters.pipeline import (
    PipelineResult,
    ReferenceInfo,
    StepFailedError,
    prepare_reference,
    run_pipeline,
)
from helgenom.adapters.pipeline import slurm as slurm_module
from helgenom.adapters.pipeline.slurm import (
    CLUSTER_STEPS,
    SLURM_LOG_DIR,
    SlurmSettings,
    step_resources,
)
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import ConflictError, InvalidInputError, PipelineError
from helgenom.core.simulate import SimulatedSample, simulate_sample
from slurm_cluster import SlurmCluster, free_port, slurm_cluster_or_skip
from test_pipeline import SAMPLE, SEED, pass_calls

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """One single-node Slurm cluster per test session (skips without Slurm or root)."""
    with slurm_cluster_or_skip(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def fast(cluster: SlurmCluster, **overrides: object) -> SlurmSettings:
    """Settings of the test runs: the cluster's partition, status checks 1-2 s apart."""
    options: dict[str, object] = {
        "partition": cluster.partition,
        "status_check_seconds": 1,
        "max_status_check_seconds": 2,
        "latency_wait_seconds": 5,
    }
    options.update(overrides)
    return SlurmSettings.from_dict(options)


@dataclass(frozen=True)
class Run:
    result: PipelineResult
    workdir: Path
    seconds: float


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSample:
    return simulate_sample(tmp_path_factory.mktemp("sim"), snvs=40, indels=16, seed=SEED)


@pytest.fixture(scope="module")
def reference(
    simulated: SimulatedSample, tmp_path_factory: pytest.TempPathFactory
) -> ReferenceInfo:
    return prepare_reference(
        simulated.reference_path, tmp_path_factory.mktemp("refs") / "sim", "SIM1"
    )


@pytest.fixture(scope="module")
def local_run(
    simulated: SimulatedSample, reference: ReferenceInfo, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    workdir = tmp_path_factory.mktemp("local") / "run"
    started = time.monotonic()
    result = run_pipeline(SAMPLE, simulated.r1_path, simulated.r2_path, reference, workdir)
    return Run(result, workdir, time.monotonic() - started)


@pytest.fixture(scope="module")
def slurm_run(
    slurm: SlurmCluster,
    simulated: SimulatedSample,
    reference: ReferenceInfo,
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    workdir = tmp_path_factory.mktemp("slurm-run") / "run"
    started = time.monotonic()
    result = run_pipeline(
        SAMPLE,
        simulated.r1_path,
        simulated.r2_path,
        reference,
        workdir,
        cores=slurm.cpus,
        executor="slurm",
        slurm=fast(slurm),
    )
    return Run(result, workdir, time.monotonic() - started)


def records(path: Path) -> list[str]:
    """The VCF's records as text (headers carry dates and command lines)."""
    with pysam.VariantFile(str(path)) as vcf:
        return [str(record) for record in vcf]


def job_logs(workdir: Path) -> dict[str, list[str]]:
    """Step -> Slurm job ids, from the job logs the plugin names by job id."""
    logs: dict[str, list[str]] = {}
    for log in sorted((workdir / SLURM_LOG_DIR).glob("rule_*/*.log")):
        logs.setdefault(log.parent.name.removeprefix("rule_"), []).append(log.stem)
    return logs


def megabytes(text: str) -> float:
    """squeue's memory (``2560M``, ``2.50G``) in MB."""
    return float(text[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[text[-1]]


def copy_run(run: Run, dest: Path) -> Path:
    """A copy of a finished run folder, time stamps kept (Snakemake compares them)."""
    shutil.copytree(run.workdir, dest, symlinks=True)
    (dest / ".helgenom-run.lock").unlink()
    return dest


# --- the same workflow through Slurm ---------------------------------------------------


def test_slurm_run_calls_what_the_local_run_calls(local_run: Run, slurm_run: Run) -> None:
    local, remote = local_run.result, slurm_run.result
    print(f"local {local_run.seconds:.1f} s, slurm {slurm_run.seconds:.1f} s")
    assert remote.executed_steps == local.executed_steps == (*CLUSTER_STEPS, "provenance")
    assert set(remote.outputs) == set(local.outputs)
    assert all(path.is_file() for path in remote.outputs.values())
    assert pass_calls(remote.outputs["vcf"]) == pass_calls(local.outputs["vcf"])
    assert len(pass_calls(remote.outputs["vcf"])) >= 50
    assert records(remote.outputs["vcf"]) == records(local.outputs["vcf"])
    assert records(remote.outputs["gvcf"]) == records(local.outputs["gvcf"])
    assert remote.qc == local.qc
    steps = [s["step"] for s in remote.provenance["steps"]]
    assert steps == [s["step"] for s in local.provenance["steps"]] == list(CLUSTER_STEPS)
    assert remote.provenance["inputs"] == local.provenance["inputs"]
    assert remote.provenance["reference"] == local.provenance["reference"]
    assert str(slurm_run.workdir) not in remote.outputs["provenance"].read_text()


def test_every_step_but_provenance_ran_as_a_slurm_job(
    slurm: SlurmCluster, slurm_run: Run, reference: ReferenceInfo
) -> None:
    logs = job_logs(slurm_run.workdir)
    assert sorted(logs) == sorted(CLUSTER_STEPS)
    assert all(len(ids) == 1 for ids in logs.values()), logs
    by_id = {job["id"]: job for job in slurm.jobs()}
    for step, (job_id,) in logs.items():
        job = by_id[job_id]  # slurmctld still lists it (MinJobAge)
        assert job["comment"] == f"rule_{step}"
        assert job["state"] == "COMPLETED"
        assert job["partition"] == slurm.partition
        assert job["name"].startswith("helgenom_")
        # the job's log is the inner Snakemake's, running the step
        log = (slurm_run.workdir / SLURM_LOG_DIR / f"rule_{step}" / f"{job_id}.log").read_text()
        assert f"rule {step}:" in log
        # the jobs share the run's source cache on the shared file system, removed after
        cache = f"--runtime-source-cache-path {slurm_run.workdir}/.snakemake/helgenom-snakemake-"
        assert cache in log
    assert not list((slurm_run.workdir / ".snakemake").glob("helgenom-snakemake-*"))
    assert len({by_id[ids[0]]["name"] for ids in logs.values()}) == 1  # one run id
    controller = slurm.slurmctld_log.read_text()
    for (job_id,) in logs.values():
        # started by the main scheduler or, on a busy machine, by the backfill scheduler
        assert re.search(
            rf"(sched: Allocate JobId={job_id} NodeList=localhost"
            rf"|backfill: (?:_start_job: )?Started JobId={job_id} in \S+ on localhost)",
            controller,
        ), controller
        assert f"_job_complete: JobId={job_id} WEXITSTATUS 0" in controller
    # per-step resources reached sbatch (markdup: 1 GB + 768 MB per sort thread)
    expected = step_resources(reference, slurm.cpus)
    markdup = by_id[logs["markdup"][0]]
    assert megabytes(markdup["memory"]) == expected["markdup"]["mem_mb"]
    assert markdup["time_limit"] == "12:00:00"
    assert markdup["cpus"] == str(slurm.cpus)
    assert markdup["workdir"] == str(slurm_run.workdir)


def test_slurm_rerun_submits_nothing_and_resumes_a_deleted_product(
    slurm: SlurmCluster,
    slurm_run: Run,
    simulated: SimulatedSample,
    reference: ReferenceInfo,
    tmp_path: Path,
) -> None:
    workdir = copy_run(slurm_run, tmp_path / "run")
    jobs_before = {job["id"] for job in slurm.jobs()}
    args = (SAMPLE, simulated.r1_path, simulated.r2_path, reference, workdir)
    again = run_pipeline(*args, cores=slurm.cpus, executor="slurm", slurm=fast(slurm))
    assert again.executed_steps == ()
    assert {job["id"] for job in slurm.jobs()} == jobs_before
    cram_mtime = again.outputs["cram"].stat().st_mtime_ns
    again.outputs["qc"].unlink()
    resumed = run_pipeline(*args, cores=slurm.cpus, executor="slurm", slurm=fast(slurm))
    assert resumed.executed_steps == ("qc", "provenance")
    assert resumed.outputs["cram"].stat().st_mtime_ns == cram_mtime
    assert resumed.qc == slurm_run.result.qc
    new_jobs = [job for job in slurm.jobs() if job["id"] not in jobs_before]
    assert [job["comment"] for job in new_jobs] == ["rule_qc"]


CALLER_PLUGIN = '''
def broken(request, tools):
    """Runs bcftools mpileup with an option it does not know."""
    tools.bcftools("mpileup", "--no-such-option", request.cram)
    return {}
'''


def test_failing_step_on_slurm_is_a_typed_error(
    slurm: SlurmCluster,
    slurm_run: Run,
    simulated: SimulatedSample,
    reference: ReferenceInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "helgenom_slurm_test_callers.py").write_text(CALLER_PLUGIN)
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setenv("PYTHONPATH", str(plugins))  # sbatch exports it to the job
    workdir = copy_run(slurm_run, tmp_path / "run")
    cram_mtime = (workdir / "results" / f"{SAMPLE}.cram").stat().st_mtime_ns
    with pytest.raises(StepFailedError) as failure:
        run_pipeline(
            SAMPLE,
            simulated.r1_path,
            simulated.r2_path,
            reference,
            workdir,
            cores=slurm.cpus,
            caller="helgenom_slurm_test_callers:broken",
            executor="slurm",
            slurm=fast(slurm),
        )
    error = failure.value
    assert (error.step, error.tool, error.exit_code) == ("call", "bcftools mpileup", 1)
    assert "unrecognized option" in error.stderr_tail
    assert not (workdir / "results" / f"{SAMPLE}.g.vcf.gz").exists()
    # the finished steps before it stay (one Slurm job per step)
    assert (workdir / "results" / f"{SAMPLE}.cram").stat().st_mtime_ns == cram_mtime
    (job_id,) = set(job_logs(workdir)["call"]) - set(job_logs(slurm_run.workdir)["call"])
    assert {job["id"]: job["state"] for job in slurm.jobs()}[job_id] == "FAILED"


def test_job_slurm_refuses_is_a_pipeline_error(
    slurm: SlurmCluster, simulated: SimulatedSample, reference: ReferenceInfo, tmp_path: Path
) -> None:
    too_big = {"align": {"mem_mb": slurm.memory_mb * 4}}
    with pytest.raises(PipelineError, match=r"on Slurm \(step align: .*sbatch") as failure:
        run_pipeline(
            SAMPLE,
            simulated.r1_path,
            simulated.r2_path,
            reference,
            tmp_path / "run",
            cores=slurm.cpus,
            executor="slurm",
            slurm=fast(slurm, resources=too_big),
        )
    assert not isinstance(failure.value, StepFailedError)
    assert "logs/slurm" in str(failure.value)


# --- checks before anything runs --------------------------------------------------------


def test_unusable_cluster_is_reported_before_anything_runs(
    slurm: SlurmCluster,
    simulated: SimulatedSample,
    reference: ReferenceInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir = tmp_path / "run"

    def run(settings: SlurmSettings) -> None:
        run_pipeline(
            SAMPLE,
            simulated.r1_path,
            simulated.r2_path,
            reference,
            workdir,
            cores=slurm.cpus,
            executor="slurm",
            slurm=settings,
        )

    with pytest.raises(PipelineError, match="partition 'nosuch' does not exist: partitions are "):
        run(fast(slurm, partition="nosuch"))
    with pytest.raises(
        PipelineError, match=r"MinJobAge=300 s, too short .* status_command='sacct'"
    ):
        run(fast(slurm, status_check_seconds=10, max_status_check_seconds=200))
    # a controller nobody runs: the same configuration with another port
    down = tmp_path / "down.conf"
    down.write_text(
        "".join(
            f"SlurmctldPort={free_port()}\n" if line.startswith("SlurmctldPort=") else line
            for line in slurm.conf.read_text().splitlines(keepends=True)
        )
        + "MessageTimeout=1\n"  # give up at once, not after 10 s of retries
    )
    with monkeypatch.context() as env:
        env.setenv("SLURM_CONF", str(down))
        with pytest.raises(PipelineError, match=r"does not answer .* slurmctld and munged"):
            run(fast(slurm))
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with monkeypatch.context() as env:
        env.setenv("PATH", str(empty))
        with pytest.raises(
            PipelineError, match="sbatch, squeue, sinfo, scancel, scontrol not found"
        ):
            run(fast(slurm))
    with monkeypatch.context() as env:
        env.setattr(slurm_module, "PLUGIN_MODULE", "helgenom_no_such_plugin")
        with pytest.raises(PipelineError, match=r"install helgenom\[slurm\]"):
            run(fast(slurm))
    assert not workdir.exists()


def test_jobs_of_a_killed_run_still_in_the_queue_block_the_folder(
    slurm: SlurmCluster, simulated: SimulatedSample, reference: ReferenceInfo, tmp_path: Path
) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    job_id = subprocess.run(
        [
            "sbatch", "--parsable", "--job-name=helgenom_left-over", f"--chdir={workdir}",
            "--output=/dev/null", "--wrap=sleep 60",
        ],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    try:
        with pytest.raises(ConflictError, match=f"Slurm jobs {job_id} of an earlier run"):
            run_pipeline(
                SAMPLE,
                simulated.r1_path,
                simulated.r2_path,
                reference,
                workdir,
                executor="slurm",
                slurm=fast(slurm),
            )
    finally:
        subprocess.run(["scancel", job_id], check=True)


# --- settings (no cluster needed) -------------------------------------------------------


def test_slurm_settings_are_validated_and_round_trip() -> None:
    settings = SlurmSettings(
        partition="genomics", account="hg-1", resources={"align": {"mem_mb": 32000}}
    )
    assert SlurmSettings.from_dict(json.loads(json.dumps(settings.asdict()))) == settings
    assert SlurmSettings.from_dict({}) == SlurmSettings()
    bad: list[tuple[dict[str, object], str]] = [
        ({"partition": "a b"}, "not a valid name"),
        ({"account": "$(id)"}, "not a valid name"),
        ({"status_command": "sstat"}, "squeue or sacct"),
        ({"max_jobs": 0}, "at least 1"),
        ({"status_check_seconds": 30, "max_status_check_seconds": 10}, "must not be below"),
        ({"resources": {"provenance": {"mem_mb": 1}}}, "unknown step 'provenance'"),
        ({"resources": {"align": {"cpus": 4}}}, "unknown Slurm resource 'cpus'"),
        ({"resources": {"align": {"mem_mb": "4G"}}}, "whole number"),
        ({"queue": "x"}, "unknown Slurm setting"),
    ]
    for data, message in bad:
        with pytest.raises(InvalidInputError, match=message):
            SlurmSettings.from_dict(data)


def test_step_resources_follow_the_index_and_the_threads(reference: ReferenceInfo) -> None:
    index_mb = reference.mmi_path.stat().st_size / 2**20
    resources = step_resources(reference, 4, {"qc": {"runtime": 5}})
    assert sorted(resources) == sorted(CLUSTER_STEPS)
    assert resources["align"]["mem_mb"] == 1024 + int(-(-1.25 * index_mb // 1))
    assert resources["markdup"]["mem_mb"] == 1024 + 4 * 768
    assert resources["vcf"] == {"mem_mb": 2048, "runtime": 240}
    assert resources["qc"] == {"mem_mb": 2048, "runtime": 5}


def test_local_executor_ignores_slurm_settings(
    local_run: Run, simulated: SimulatedSample, reference: ReferenceInfo, tmp_path: Path
) -> None:
    workdir = copy_run(local_run, tmp_path / "run")
    again = run_pipeline(
        SAMPLE,
        simulated.r1_path,
        simulated.r2_path,
        reference,
        workdir,
        slurm=SlurmSettings(partition="unused"),
    )
    assert again.executed_steps == ()
    assert not (workdir / SLURM_LOG_DIR).exists()


def test_service_passes_the_partition_and_account_to_slurm(
    slurm: SlurmCluster, simulated: SimulatedSample, world: World
) -> None:
    """``pipeline run --executor slurm --partition P``: the worker submits to P."""
    p = world.platform
    operator = p.context("operator")
    p.references.load(operator, simulated.reference_path, build="SIM")
    with p.catalog.engine.connect() as conn:
        sample_id = str(
            conn.execute(
                sa.select(samples.c.id).where(
                    samples.c.person_pseudonym
                    == p.persons.vault.pseudonym(parse_cpr(world.patient_a))
                )
            ).scalar_one()
        )
    p.samples.add_reads(operator, sample_id, simulated.r1_path, simulated.r2_path)
    p.pipeline.slurm_options["partition"] = "nosuch"  # as HELGENOM_SLURM_PARTITION would
    with pytest.raises(PipelineError, match="partition 'nosuch' does not exist"):
        p.pipeline.run(operator, sample_id, executor="slurm", cores=slurm.cpus)
    with pytest.raises(PipelineError, match="partition 'other' does not exist"):
        p.pipeline.run(operator, sample_id, executor="slurm", cores=slurm.cpus, partition="other")
    with p.catalog.engine.connect() as conn:
        notes = conn.execute(
            sa.select(audit_log.c.reason).where(audit_log.c.action == "pipeline.run")
        ).scalars()
        started = [n for n in notes if n and "started" in n]
    assert any("Slurm partition nosuch" in n for n in started)
    assert any("Slurm partition other" in n for n in started)
