"""The demo runs end to end, and no CPR number or key leaks into output, logs or the catalog."""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from helgenom.adapters.catalog.schema import persons
from helgenom.cli.main import app
from helgenom.services.demo import POPULATION
from helgenom.services.platform import open_platform


def _all_cprs(home: Path) -> list[str]:
    """Decrypt every CPR in the vault of the instance at ``home`` (test-only)."""
    with open_platform(str(home)) as p:
        vault = p.persons.vault
        with p.catalog.begin() as conn:
            rows = conn.execute(sa.select(persons.c.pseudonym)).all()
            return [vault.reveal(conn, r.pseudonym).digits for r in rows]


def _secret_strings(home: Path) -> list[str]:
    """Every key's secret payload in the textual forms it could leak as."""
    found: list[str] = []
    for path in (home / "keys").iterdir():
        if path.suffix == ".pub":
            continue
        text = path.read_text()
        for line in text.splitlines():
            if line.startswith(("HELGENOM-KEY", "-----")):
                continue
            found.append(line.strip())
            with contextlib.suppress(ValueError):
                found.append(base64.b64decode(line).hex())
    return [s for s in found if len(s) >= 16]


def test_demo_runs_and_leaks_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    home = tmp_path / "demo"
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(app, ["demo", "--home", str(home)])
    assert result.exit_code == 0, result.output
    output = result.output
    assert "Access attempts" in output
    assert "Who used my data" in output
    assert "Audit chain: intact" in output
    assert "denied" in output
    assert "allowed" in output
    assert re.search(r"cohort 6 -> 5", output), output
    assert "Research allele frequencies with and without" in output
    assert re.search(r"60 samples counted before the withdrawals, 54 after", output), output
    assert "Ranked candidates" in output
    # The trio went through the pipeline: reads added, one run per member, gVCFs ingested.
    assert re.search(r"Trio sequencing: [\d,]+ \+ [\d,]+ \+ [\d,]+ read pairs simulated", output)
    runs = re.findall(
        r"^  (proband|mother|father) S-\S+: [\d,]+ read pairs -> RUN-\S+ -> qc_", output, re.M
    )
    assert runs == ["proband", "mother", "father"], output
    assert "parentage confirmed" in output
    table = output[output.index("Ranked candidates") : output.index("Geneticist's override")]
    for gene, mode in (
        ("SCN1A", "de_novo"),
        ("CFTR", "compound_h"),
        ("OTC", "x_linked_h"),  # the son's chrX, called haploid
        ("PAH", "autosomal_"),
    ):
        assert re.search(rf"│ {gene}\s+│.*│ {mode}", table), table
    assert table.count("│ CFTR ") == 2, table
    assert re.search(r"Report RPT-\S+ signed and issued \(positive\)", output), output
    assert "Re-analysis: CASE-" in output
    # The Beacon per audience and the attack with and without defences.
    assert "Beacon g_variants: what each audience learns" in output
    assert re.search(r"anonymous\s+│\s+anonymous\s+│.*\(rare.*│\s+absent", output), output
    powers = re.findall(r"│ (none|all \(hidden)[^│]*│\s+([0-9.]+)\s+│", output)
    assert [name for name, _ in powers] == ["none", "all (hidden"], powers
    undefended, defended = (float(power) for _, power in powers)
    assert undefended >= 0.8, powers
    assert defended <= 0.2, powers
    # The API tour: real HTTP on loopback, allowed and denied, no token in the output.
    assert "The HTTP API of the demo instance" in output
    assert re.search(r"citizen\.anna\s+│ GET /me/access-log\s+│ 200", output), output
    assert re.search(r"dr\.nielsen\s+│ GET[^\n]*│ 403", output), output
    assert "Try it yourself" in output
    assert "eyJ" not in output, "a bearer token appears in the demo output"
    reports = sorted((home / "reports").iterdir())
    assert [r.suffix for r in reports] == [".json", ".html", ".pdf"]
    cprs = _all_cprs(home)
    assert len(cprs) == 6 + POPULATION + 3  # the patients, the simulated citizens, the trio
    texts = {"output": output, "logs": caplog.text}
    texts.update({r.name: r.read_text() for r in reports if r.suffix != ".pdf"})
    for where, text in texts.items():
        digits_only = re.sub(r"\D", "", text)
        for cpr in cprs:
            assert cpr not in digits_only, f"a CPR number appears in the {where}"
            assert f"{cpr[:6]}-{cpr[6:]}" not in text
        for secret in _secret_strings(home):
            assert secret not in text, f"key material appears in the {where}"
    catalog_bytes = (home / "catalog.db").read_bytes()
    wal = home / "catalog.db-wal"
    if wal.exists():
        catalog_bytes += wal.read_bytes()
    for cpr in cprs:
        assert cpr.encode() not in catalog_bytes, "a CPR is stored in clear in the catalog"
        assert f"{cpr[:6]}-{cpr[6:]}".encode() not in catalog_bytes


def test_demo_command_on_a_fresh_folder(tmp_path: Path) -> None:
    """``python -m helgenom demo`` as a new user runs it: exit 0, tables printed."""
    home = tmp_path / "d"
    proc = subprocess.run(
        [sys.executable, "-m", "helgenom", "demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Audit chain: intact" in proc.stdout
    assert "Traceback" not in proc.stderr
    again = subprocess.run(
        [sys.executable, "-m", "helgenom", "demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode != 0
    assert "already holds an instance" in again.stderr
