"""``helgenom htsget register|list``: one service call each, errors as exit codes.

The files are the small generated ones of ``test_htsget`` (a CRAM with its CRAI, a
VCF.gz with its TBI), stored for a patient's sample through the platform; the commands
run in-process against the same instance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from conftest import World
from helgenom.adapters.catalog.schema import audit_log
from helgenom.cli.main import app, out
from helgenom.core.models import ObjectKind
from test_htsget import first_sample, index_of, write_reads, write_variants

runner = CliRunner()


@dataclass(frozen=True)
class Stored:
    """Objects of patient_a's sample (not yet registered)."""

    sample_id: str
    cram: str
    crai: str
    vcf: str
    tbi: str


@pytest.fixture
def stored(world: World, tmp_path: Path) -> Stored:
    p = world.platform
    operator = p.context("operator")
    sample_id = first_sample(p, world.patient_a)
    _fasta, _bam, cram = write_reads(tmp_path / "reads")
    vcf, _bcf = write_variants(tmp_path / "variants")
    ids = []
    for path, kind in ((cram, ObjectKind.CRAM), (vcf, ObjectKind.VCF)):
        ids.append(p.objects.put(operator, path, sample_id=sample_id, kind=kind).record.object_id)
        index_path, index_kind = index_of(path)
        index = p.objects.put(operator, index_path, sample_id=sample_id, kind=index_kind)
        ids.append(index.record.object_id)
    return Stored(sample_id, *ids)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables on one line per row (the console was built before the test's environment)."""
    monkeypatch.setattr(out, "_width", 200)


def cli(world: World, *args: str, user: str = "operator") -> Result:
    env = {"HELGENOM_HOME": str(world.platform.settings.home), "HELGENOM_USER": user}
    return runner.invoke(app, list(args), env=env)


def flat(text: str) -> str:
    """Rich table text without box-drawing characters and line wraps."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", text).split())


def assert_error(result: Result, exit_code: int, *phrases: str) -> None:
    """The exit code and one ``error (...)`` line naming the problem; no traceback."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error ("), lines[0]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def last_entry(world: World) -> sa.Row[tuple[object, ...]]:
    with world.platform.catalog.engine.connect() as conn:
        return conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()


def test_register_prints_the_id_and_format_then_list_shows_it(world: World, stored: Stored) -> None:
    done = cli(world, "htsget", "register", stored.vcf, "--index", stored.tbi, "--name", "calls")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "calls VCF"
    assert "variants/calls (variants/calls.vcf.gz)" in done.stderr
    entry = last_entry(world)
    assert (entry.action, entry.decision, entry.actor) == ("object.put", "allow", "operator")
    assert "htsget registration as 'calls'" in entry.reason

    default = cli(world, "htsget", "register", stored.cram, "--index", stored.crai)
    assert default.exit_code == 0, default.output
    assert default.stdout.strip() == f"{stored.cram} CRAM"  # the object id by default
    assert f"reads/{stored.cram}.cram" in default.stderr

    listed = cli(world, "htsget", "list")
    assert listed.exit_code == 0, listed.output
    text = flat(listed.stdout)
    assert "name format object index sample registered" in text
    assert f"calls VCF {stored.vcf} {stored.tbi} {stored.sample_id}" in text
    assert f"{stored.cram} CRAM {stored.cram} {stored.crai} {stored.sample_id}" in text
    entry = last_entry(world)
    assert (entry.action, entry.resource, entry.decision) == (
        "object.list",
        "htsget_objects",
        "allow",
    )
    assert "2 htsget objects listed" in entry.reason
    assert json.loads(entry.subjects) == []

    same = cli(world, "htsget", "list", "--sample", stored.sample_id)
    assert flat(same.stdout) == text
    none = cli(world, "htsget", "list", "--sample", "SMP-NONE")
    assert none.exit_code == 0, none.output
    assert "calls" not in none.stdout
    assert "nothing registered" in none.stderr

    # registering again changes nothing but the name it asks for
    again = cli(world, "htsget", "register", stored.vcf, "--index", stored.tbi, "--name", "calls")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "calls VCF"


def test_register_errors_become_exit_codes(world: World, stored: Stored) -> None:
    assert_error(
        cli(world, "htsget", "register", "obj-missing", "--index", stored.tbi),
        3,
        "not_found",
        "obj-missing",
    )
    assert_error(
        cli(world, "htsget", "register", stored.cram, "--index", stored.tbi),
        2,
        "format_error",
        "cannot slice",
    )
    assert_error(
        cli(world, "htsget", "register", stored.vcf, "--index", stored.tbi, "--name", "a/b"),
        2,
        "invalid_input",
        "without '/'",
    )
    first = cli(world, "htsget", "register", stored.vcf, "--index", stored.tbi, "--name", "x")
    assert first.exit_code == 0, first.output
    _fasta, _bam, cram = write_reads(world.platform.settings.home.parent / "more", seed=3)
    operator = world.platform.context("operator")
    other = world.platform.objects.put(
        operator, Path(f"{cram}.crai"), sample_id=stored.sample_id, kind=ObjectKind.CRAI
    )
    assert_error(
        cli(world, "htsget", "register", stored.vcf, "--index", other.record.object_id),
        2,
        "format_error",
    )
    assert_error(
        cli(world, "htsget", "register", stored.vcf, "--index", stored.tbi, user="gen-a"),
        6,
        "permission_denied",
    )
    assert_error(cli(world, "htsget", "list", user="clin-a"), 6, "permission_denied")
    usage = cli(world, "htsget", "register", stored.vcf)
    assert usage.exit_code == 2
    assert "--index" in usage.output


def test_a_name_is_taken_over_only_with_replace(
    world: World, stored: Stored, tmp_path: Path
) -> None:
    p = world.platform
    operator = p.context("operator")
    newer_file, _bcf = write_variants(tmp_path / "newer", seed=5)
    newer = p.objects.put(operator, newer_file, sample_id=stored.sample_id, kind=ObjectKind.VCF)
    index_path, index_kind = index_of(newer_file)
    newer_index = p.objects.put(operator, index_path, sample_id=stored.sample_id, kind=index_kind)
    args = ("htsget", "register")
    assert cli(world, *args, stored.vcf, "--index", stored.tbi, "--name", "S").exit_code == 0
    newer_args = (newer.record.object_id, "--index", newer_index.record.object_id, "--name", "S")
    assert_error(cli(world, *args, *newer_args), 4, "conflict", "already names")
    taken = cli(world, *args, *newer_args, "--replace")
    assert taken.exit_code == 0, taken.output
    assert f"replacing object {stored.vcf}" in last_entry(world).reason
    text = flat(cli(world, "htsget", "list").stdout)
    assert f"S VCF {newer.record.object_id}" in text
    assert stored.vcf not in text
