"""The ``helgenom`` command line end to end: a few real subprocesses, many CliRunner cases.

Every bad-input case is tried as a new user would, and must give a non-zero exit, one
line naming the problem, no traceback, and never a CPR number or key material.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner, Result

from conftest import make_cpr
from helgenom.adapters.keys import INSTANCE_KEYS, SECRET_KEYS, KeyName
from helgenom.cli.main import app
from helgenom.core.models import Role, Sex
from helgenom.services.instance import init_instance
from helgenom.services.platform import open_platform

runner = CliRunner()

CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/x"
HELGENOM_VARS = (
    "HELGENOM_HOME",
    "HELGENOM_USER",
    "HELGENOM_DATABASE_URL",
    "HELGENOM_ENVIRONMENT",
    "HELGENOM_KEYS_PATH",
    "HELGENOM_FORMAT_VERSION",
)

CITIZEN_CPR = make_cpr(11)
"""Bound to the citizen user of the template instance; has a requisition from DEP-A."""
UNREGISTERED_CPR = make_cpr(12, Sex.MALE)
"""A valid CPR number of a person the instance has never seen."""

MALFORMED_CPRS = [
    "010190-123",  # too short
    "0101901234567",  # too long
    "010190+1234",  # wrong separator
    "01O190-1234",  # letter O
    "abcdefghij",
    "",
]
IMPOSSIBLE_CPRS = [
    "320190-1234",  # day 32
    "011390-1234",  # month 13
    "290291-1234",  # 29 February 1991
    "000000-0000",
]


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in HELGENOM_VARS:
        monkeypatch.delenv(var, raising=False)


def cli(
    *args: str,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> Result:
    """Run the CLI in-process with HELGENOM_HOME = ``home`` (unset when None)."""
    environ: dict[str, str | None] = dict.fromkeys(HELGENOM_VARS)
    if home is not None:
        environ["HELGENOM_HOME"] = str(home)
    environ.update(env or {})
    return runner.invoke(app, list(args), env=environ, input=input)


def cpr_forms(cpr: str) -> list[str]:
    """The ways a CPR number could show up: as given, 10-digit, hyphenated."""
    digits = re.sub(r"\D", "", cpr)
    forms = [cpr] if cpr.strip() else []
    if len(digits) >= 6:
        forms.append(digits)
    if len(digits) == 10:
        forms.append(f"{digits[:6]}-{digits[6:]}")
    return forms


def assert_no_cpr(text: str, *cprs: str) -> None:
    digits_only = re.sub(r"\D", "", text)
    for cpr in cprs:
        for form in cpr_forms(cpr):
            assert form not in text, "a CPR number appears in the output"
        digits = re.sub(r"\D", "", cpr)
        if len(digits) == 10:
            assert digits not in digits_only, "the digits of a CPR number appear in the output"


def key_secrets(home: Path) -> list[str]:
    """Every key's secret payload in the textual forms it could leak as."""
    found: list[str] = []
    for name in SECRET_KEYS:
        path = home / "keys" / name.value
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(("HELGENOM-KEY", "-----")) or len(line) < 16:
                continue
            found.append(line.strip())
            with contextlib.suppress(binascii.Error, ValueError):
                found.append(base64.b64decode(line).hex())
    return found


def flat(text: str) -> str:
    """Rich table text without box-drawing characters and line wraps."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", text).split())


def assert_no_key_material(text: str, home: Path) -> None:
    for secret in key_secrets(home):
        assert secret not in text, "key material appears in the output"


def assert_clean_error(
    result: Result, exit_code: int, *phrases: str, cprs: Sequence[str] = ()
) -> str:
    """Non-zero exit, one ``error (...)`` line naming the problem, no traceback, no CPR."""
    text = result.output
    assert result.exit_code == exit_code, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in text
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error ("), line
    for phrase in phrases:
        assert phrase in line, line
    assert_no_cpr(text, *cprs)
    return line


def populate(home: Path, database_url: str | None = None) -> None:
    """An instance with DEP-A, one user per role used here, and a requisition."""
    init_instance(home, database_url=database_url)
    with open_platform(str(home)) as p:
        admin = p.context()
        p.directory.add_org(admin, "DEP-A", "Department A")
        for name, role, org in [
            ("clin-a", Role.CLINICIAN, "DEP-A"),
            ("researcher", Role.RESEARCHER, "platform"),
            ("auditor", Role.AUDITOR, "platform"),
        ]:
            p.directory.add_user(admin, name, role, org)
        p.directory.add_user(admin, "citizen", Role.CITIZEN, None, cpr=CITIZEN_CPR)
        p.requisitions.create(p.context("clin-a"), CITIZEN_CPR, "R59")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        for var in HELGENOM_VARS:
            mp.delenv(var, raising=False)
        home = tmp_path_factory.mktemp("template") / "instance"
        populate(home)
    return home


@pytest.fixture
def inst(template: Path, tmp_path: Path) -> Path:
    """A private copy of the populated SQLite instance (safe to break)."""
    home = tmp_path / "instance"
    shutil.copytree(template, home)
    return home


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELGENOM_")}
    env.update({"COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}, **extra)
    return env


def run_helgenom(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helgenom", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


# ----------------------------------------------------------------------------- --help everywhere


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_paths(sub, (*path, name))


ALL_COMMANDS = list(command_paths(typer.main.get_command(app)))


def test_command_tree_is_complete() -> None:
    groups = {p[0] for p in ALL_COMMANDS if len(p) == 2}
    assert {"org", "user", "person", "consent", "requisition", "sample", "project", "audit"} <= (
        groups
    )
    assert {("init",), ("status",), ("demo",), ("org", "add"), ("user", "add")} <= set(ALL_COMMANDS)
    assert len(ALL_COMMANDS) >= 30


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "helgenom")
def test_every_command_answers_help(path: tuple[str, ...]) -> None:
    result = cli(*path, "--help")  # no instance selected: help must not need one
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "Usage:" in result.stdout
    assert "Traceback" not in result.output


def test_python_m_helgenom_help() -> None:
    proc = run_helgenom("--help", env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    for noun in ("init", "status", "org", "user", "consent", "audit"):
        assert noun in proc.stdout
    assert proc.stderr == ""


# ----------------------------------------------------------------------------- end to end


def test_full_flow_as_subprocesses(tmp_path: Path) -> None:
    """init -> org add -> user add -> requisition -> consent -> audit, as a new user runs it."""
    home = tmp_path / "home"
    env = subprocess_env(HELGENOM_HOME=str(home))
    cpr = make_cpr(21)
    outputs: list[str] = []

    def ok(*args: str, **extra: str) -> str:
        proc = run_helgenom(*args, env={**env, **extra})
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        outputs.append(proc.stdout + proc.stderr)
        return proc.stdout

    out = ok("init")
    assert "first admin" in out
    assert "admin" in out
    assert (home / "helgenom.toml").is_file()
    ok("org", "add", "RH-KG", "--name", "Klinisk Genetik")
    ok("user", "add", "dr.hansen", "--role", "clinician", "--org", "RH-KG")
    out = ok("user", "add", "borger", "--role", "citizen", "--cpr", cpr)
    assert "bound to one person" in out
    ok("user", "add", "revisor", "--role", "auditor", "--org", "platform")
    out = ok("--as", "dr.hansen", "requisition", "create", "--cpr", cpr, "--indication", "R59")
    assert re.fullmatch(r"REQ-[0-9A-Z]{10}\s*", out), out
    out = ok("consent", "set", "--cpr", cpr, "--research", "opt-out", HELGENOM_USER="borger")
    assert "opt-out" in out
    out = ok("--as", "borger", "consent", "show", "--cpr", cpr)
    assert "opt-out" in out
    assert "History" in out
    assert "borger" in out
    out = ok("--as", "borger", "audit", "show", "--person", cpr)
    assert "Who used my data" in out
    assert "RH-KG" in out  # the department that ordered sequencing
    assert "clinician" in out
    out = ok("--as", "revisor", "audit", "verify")
    assert "audit chain intact" in out
    out = ok("status")
    assert "NO" not in out

    everything = "\n".join(outputs)
    assert_no_cpr(everything, cpr)
    assert_no_key_material(everything, home)


def test_bad_input_as_subprocesses(tmp_path: Path) -> None:
    """Real processes: one clean stderr line and the documented exit code."""
    proc = run_helgenom("org", "list", env=subprocess_env())
    assert proc.returncode == 9
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "no instance selected" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout

    home = tmp_path / "inst"
    init_instance(home)
    proc = run_helgenom(
        "org",
        "list",
        env=subprocess_env(HELGENOM_HOME=str(home), HELGENOM_DATABASE_URL=CLOSED_PORT_URL),
    )
    assert proc.returncode == 8
    assert "unreachable" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr + proc.stdout

    cpr = "320190-1234"
    proc = run_helgenom(
        "person", "register", "--cpr", cpr, env=subprocess_env(HELGENOM_HOME=str(home))
    )
    assert proc.returncode == 2
    assert "CPR number" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert_no_cpr(proc.stderr + proc.stdout, cpr)


def test_full_flow_in_process(tmp_path: Path, database_url: str | None) -> None:
    """The same story on both catalog backends, with --home and --as as options."""
    home = tmp_path / "home"
    cpr = make_cpr(22, Sex.MALE)
    args = ["init", "--home", str(home)]
    if database_url is not None:
        args += ["--database-url", database_url]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert_no_key_material(result.output, home)
    h = ["--home", str(home)]
    steps = [
        ([*h, "org", "add", "DEP-X", "--name", "Dept X"], "added department DEP-X"),
        ([*h, "user", "add", "clin", "--role", "clinician", "--org", "DEP-X"], "added"),
        ([*h, "user", "add", "cit", "--role", "citizen", "--cpr", cpr], "bound"),
        ([*h, "user", "add", "aud", "--role", "auditor", "--org", "platform"], "added"),
        ([*h, "--as", "clin", "requisition", "create", "--cpr", cpr], "REQ-"),
        ([*h, "--as", "cit", "consent", "set", "--cpr", cpr, "--research", "opt-out"], "opt-out"),
        ([*h, "--as", "cit", "consent", "show", "--cpr", cpr], "History"),
        ([*h, "--as", "cit", "audit", "show", "--person", cpr], "clinician"),
        ([*h, "--as", "aud", "audit", "verify"], "audit chain intact"),
        ([*h, "status"], "migrations"),
    ]
    for step, expected in steps:
        result = cli(*step)
        assert result.exit_code == 0, (step, result.output)
        assert expected in result.stdout, (step, result.stdout)
        assert_no_cpr(result.output, cpr)
        assert_no_key_material(result.output, home)


# ----------------------------------------------------------------------------- init and status


def test_init_output_and_key_permissions(tmp_path: Path) -> None:
    home = tmp_path / "h"
    result = cli("init", "--admin", "boss", home=home)
    assert result.exit_code == 0, result.output
    assert "first admin" in result.stdout
    assert "boss" in result.stdout
    assert "Back up" in result.stdout
    assert_no_key_material(result.output, home)
    for name in SECRET_KEYS:
        assert (home / "keys" / name.value).stat().st_mode & 0o777 == 0o600
    result = cli("org", "list", home=home)  # the acting principal defaults to the first admin
    assert result.exit_code == 0, result.output
    assert "platform" in result.stdout


def test_global_home_option_selects_the_instance_for_init(tmp_path: Path) -> None:
    home = tmp_path / "g"
    result = cli("--home", str(home), "init")
    assert result.exit_code == 0, result.output
    assert (home / "helgenom.toml").is_file()


def test_init_twice_refuses_and_force_keeps_keys(inst: Path) -> None:
    before = {n.value: (inst / "keys" / n.value).read_bytes() for n in INSTANCE_KEYS}
    line = assert_clean_error(cli("init", home=inst), 4, "already a helgenom instance", "--force")
    assert "never overwritten" in line
    result = cli("init", "--force", home=inst)
    assert result.exit_code == 0, result.output
    assert "keys kept" in result.stdout
    after = {n.value: (inst / "keys" / n.value).read_bytes() for n in INSTANCE_KEYS}
    assert after == before
    assert_no_key_material(result.output, inst)


def test_status_healthy_and_unhealthy(inst: Path) -> None:
    result = cli("status", home=inst)
    assert result.exit_code == 0, result.output
    assert "NO" not in result.stdout
    assert_no_key_material(result.output, inst)
    os.chmod(inst / "keys" / KeyName.AUDIT.value, 0o644)
    (inst / "keys" / KeyName.PSEUDONYM.value).write_text("garbage\n")
    result = cli("status", home=inst)
    assert result.exit_code == 9
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    text = flat(result.stdout)
    assert "NO" in text
    assert "readable by others" in text
    assert "chmod 600" in text
    assert "corrupt" in text


def test_status_without_instance(tmp_path: Path) -> None:
    result = cli("status", "--home", str(tmp_path / "none"))
    assert result.exit_code == 9
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "helgenom init" in flat(result.stdout)


# ----------------------------------------------------------------------------- bad input: instance


def test_no_instance_selected() -> None:
    assert_clean_error(cli("org", "list"), 9, "no instance selected", "HELGENOM_HOME")
    assert_clean_error(
        cli("--as", "clin-a", "person", "show", "--cpr", CITIZEN_CPR),
        9,
        "no instance selected",
        cprs=[CITIZEN_CPR],
    )


def test_home_without_instance(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert_clean_error(
        cli("--home", str(missing), "user", "list"), 9, "no helgenom instance at", "helgenom init"
    )


def test_unreachable_database(inst: Path) -> None:
    assert_clean_error(
        cli("org", "list", home=inst, env={"HELGENOM_DATABASE_URL": CLOSED_PORT_URL}),
        8,
        "unreachable",
    )
    assert_clean_error(
        cli(
            "--as",
            "clin-a",
            "requisition",
            "create",
            "--cpr",
            CITIZEN_CPR,
            home=inst,
            env={"HELGENOM_DATABASE_URL": CLOSED_PORT_URL},
        ),
        8,
        "unreachable",
        cprs=[CITIZEN_CPR],
    )


@pytest.mark.parametrize("name", SECRET_KEYS, ids=lambda n: n.value)
def test_corrupt_key_file(inst: Path, name: KeyName) -> None:
    path = inst / "keys" / name.value
    path.write_text("this is not a key\n")
    line = assert_clean_error(cli("org", "list", home=inst), 7, "corrupt", "restore", "backup")
    assert name.value in line
    assert_no_key_material(line, inst)


def test_key_file_readable_by_others(inst: Path) -> None:
    path = inst / "keys" / KeyName.CPR.value
    os.chmod(path, 0o644)
    line = assert_clean_error(
        cli("--as", "clin-a", "person", "show", "--cpr", CITIZEN_CPR, home=inst),
        9,
        "readable by others",
        "chmod 600",
        cprs=[CITIZEN_CPR],
    )
    assert str(path) in line
    assert_no_key_material(line, inst)


def test_missing_key_file(inst: Path) -> None:
    (inst / "keys" / KeyName.TOKEN_SIGNING.value).unlink()
    assert_clean_error(cli("org", "list", home=inst), 9, "missing", "restore it from your key")


def test_config_file_with_bad_toml(inst: Path) -> None:
    with (inst / "helgenom.toml").open("a") as handle:
        handle.write("database_url = [unclosed\n")
    assert_clean_error(cli("org", "list", home=inst), 9, "not valid TOML")


def test_invalid_environment_variable(inst: Path) -> None:
    assert_clean_error(
        cli("org", "list", home=inst, env={"HELGENOM_ENVIRONMENT": "staging"}),
        9,
        "environment",
    )


def test_default_password_refused(inst: Path) -> None:
    url = "postgresql://postgres:changeme@127.0.0.1:1/x"
    line = assert_clean_error(
        cli("org", "list", home=inst, env={"HELGENOM_DATABASE_URL": url}),
        9,
        "well-known default password",
    )
    assert "changeme" not in line


def test_catalog_without_revision_tells_to_run_init_force(inst: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{inst / 'catalog.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    assert_clean_error(cli("org", "list", home=inst), 9, "schema revision none", "init", "--force")
    result = cli("status", home=inst)
    assert result.exit_code == 9
    assert "init --force" in flat(result.stdout)
    result = cli("init", "--force", home=inst)
    assert result.exit_code == 0, result.output
    result = cli("org", "list", home=inst)
    assert result.exit_code == 0, result.output
    assert "DEP-A" in result.stdout


def test_catalog_at_unknown_revision(inst: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{inst / 'catalog.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    assert_clean_error(cli("org", "list", home=inst), 9, "schema revision 0999")
    assert_clean_error(cli("init", "--force", home=inst), 9, "does not know")


# ----------------------------------------------------------------------------- bad input: init


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("mysql://root@localhost/helgenom", "unsupported database URL"),
        ("localhost:5432", "unsupported database URL"),
        ("postgresql://u@h:port/db", "invalid database URL"),
        ("sqlite://", "in-memory"),
    ],
)
def test_init_invalid_database_url(tmp_path: Path, url: str, phrase: str) -> None:
    home = tmp_path / "h"
    assert_clean_error(cli("init", "--database-url", url, home=home), 9, phrase)
    assert not (home / "helgenom.toml").exists()


def test_init_unreachable_database(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert_clean_error(cli("init", "--database-url", CLOSED_PORT_URL, home=home), 8, "unreachable")
    assert not (home / "helgenom.toml").exists()


@pytest.mark.postgres
def test_init_postgres_database_that_does_not_exist(
    tmp_path: Path, postgres_database_url: str
) -> None:
    url = postgres_database_url.rsplit("/", 1)[0] + "/helgenom_missing_db"
    assert_clean_error(
        cli("init", "--database-url", url, home=tmp_path / "h"),
        8,
        '"helgenom_missing_db" does not exist',
    )


def test_init_default_password(tmp_path: Path) -> None:
    line = assert_clean_error(
        cli(
            "init",
            "--database-url",
            "postgresql://helgenom:Password@127.0.0.1:1/x",
            home=tmp_path / "h",
        ),
        9,
        "default password",
    )
    assert "Password" not in line


def test_init_invalid_admin_and_missing_home(tmp_path: Path) -> None:
    assert_clean_error(cli("init", "--admin", "Dr Who", home=tmp_path / "h"), 2, "user name")
    assert_clean_error(cli("init"), 9, "no instance selected")
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_clean_error(cli("init", home=afile), 9, "instance folder")


# ----------------------------------------------------------------------------- bad input: directory


def test_unknown_acting_user(inst: Path) -> None:
    for args in (("org", "list"), ("user", "list"), ("audit", "verify")):
        assert_clean_error(cli("--as", "nobody", *args, home=inst), 3, "no user named 'nobody'")
    assert_clean_error(
        cli("org", "list", home=inst, env={"HELGENOM_USER": "ghost"}), 3, "no user named 'ghost'"
    )


def test_helgenom_user_selects_principal(inst: Path) -> None:
    result = cli("audit", "verify", home=inst, env={"HELGENOM_USER": "auditor"})
    assert result.exit_code == 0, result.output
    assert "audit chain intact" in result.stdout
    # --as beats HELGENOM_USER
    assert_clean_error(
        cli("--as", "researcher", "audit", "verify", home=inst, env={"HELGENOM_USER": "auditor"}),
        6,
        "may not",
    )


def test_user_add_errors(inst: Path) -> None:
    assert_clean_error(
        cli("user", "add", "x1", "--role", "wizard", "--org", "DEP-A", home=inst),
        2,
        "unknown role 'wizard'",
        "clinician",
    )
    assert_clean_error(
        cli("user", "add", "x2", "--role", "clinician", "--org", "NOPE", home=inst),
        3,
        "organisation NOPE does not exist",
    )
    assert_clean_error(
        cli("user", "add", "clin-a", "--role", "clinician", "--org", "DEP-A", home=inst),
        4,
        "already exists",
    )
    assert_clean_error(cli("user", "add", "x3", "--role", "clinician", home=inst), 2, "give --org")
    assert_clean_error(
        cli("user", "add", "x4", "--role", "clinician", "--org", "platform", home=inst),
        2,
        "hospital department",
    )
    assert_clean_error(
        cli("user", "add", "Bad Name", "--role", "auditor", "--org", "platform", home=inst),
        2,
        "user name",
    )
    assert_clean_error(cli("user", "add", "cit2", "--role", "citizen", home=inst), 2, "give --cpr")
    assert_clean_error(
        cli("user", "add", "cit2", "--role", "citizen", "--cpr", CITIZEN_CPR, home=inst),
        4,
        "already has a citizen user",
        cprs=[CITIZEN_CPR],
    )
    assert_clean_error(
        cli(
            "user",
            "add",
            "x5",
            "--role",
            "auditor",
            "--org",
            "platform",
            "--cpr",
            UNREGISTERED_CPR,
            home=inst,
        ),
        2,
        "only for citizen",
        cprs=[UNREGISTERED_CPR],
    )


def test_org_add_errors(inst: Path) -> None:
    assert_clean_error(
        cli("org", "add", "DEP-A", "--name", "Again", home=inst), 4, "DEP-A already exists"
    )
    assert_clean_error(
        cli("org", "add", "bad code", "--name", "X", home=inst), 2, "department code"
    )
    assert_clean_error(cli("org", "add", "DEP-Z", "--name", " ", home=inst), 2, "name is empty")


def test_wrong_role(inst: Path) -> None:
    assert_clean_error(
        cli("--as", "clin-a", "org", "add", "DEP-Q", "--name", "Q", home=inst), 6, "may not"
    )
    assert_clean_error(
        cli("--as", "researcher", "requisition", "create", "--cpr", CITIZEN_CPR, home=inst),
        6,
        "may not",
        cprs=[CITIZEN_CPR],
    )
    assert_clean_error(
        cli("--as", "clin-a", "audit", "show", "--person", CITIZEN_CPR, home=inst),
        6,
        "may not",
        cprs=[CITIZEN_CPR],
    )
    assert_clean_error(
        cli("--as", "clin-a", "--purpose", "research", "org", "list", home=inst),
        6,
        "may not act for purpose research",
    )
    assert_clean_error(
        cli("--as", "clin-a", "--purpose", "fun", "org", "list", home=inst),
        2,
        "unknown purpose 'fun'",
    )


# ----------------------------------------------------------------------------- bad input: CPR


CPR_COMMANDS = [
    ("clin-a", ["requisition", "create", "--cpr"]),
    ("clin-a", ["person", "register", "--cpr"]),
    ("clin-a", ["person", "show", "--cpr"]),
    ("citizen", ["consent", "set", "--research", "allow", "--cpr"]),
    ("citizen", ["consent", "show", "--cpr"]),
    ("auditor", ["audit", "show", "--person"]),
]


@pytest.mark.parametrize(("actor", "command"), CPR_COMMANDS, ids=lambda c: str(c))
@pytest.mark.parametrize("cpr", MALFORMED_CPRS + IMPOSSIBLE_CPRS)
def test_malformed_or_impossible_cpr(
    template: Path, actor: str, command: list[str], cpr: str
) -> None:
    # invalid CPR numbers are rejected before anything is written: the template is safe
    assert_clean_error(
        cli("--as", actor, *command, cpr, home=template), 2, "CPR number", cprs=[cpr]
    )


def test_cpr_typed_at_the_prompt_is_not_echoed(inst: Path) -> None:
    for cpr in ("320190-1234", "0101901"):
        result = cli("--as", "clin-a", "person", "register", home=inst, input=f"{cpr}\n")
        assert_clean_error(result, 2, "CPR number", cprs=[cpr])
    result = cli("--as", "clin-a", "person", "register", home=inst, input=f"{UNREGISTERED_CPR}\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].startswith("hp-")
    assert_no_cpr(result.output, UNREGISTERED_CPR)


def test_unknown_person(inst: Path) -> None:
    assert_clean_error(
        cli("--as", "auditor", "audit", "show", "--person", UNREGISTERED_CPR, home=inst),
        3,
        "no person is registered",
        cprs=[UNREGISTERED_CPR],
    )
    # a clinician without a requisition for the person is denied, not told whether it exists
    assert_clean_error(
        cli("--as", "clin-a", "person", "show", "--cpr", UNREGISTERED_CPR, home=inst),
        6,
        "no requisition",
        cprs=[UNREGISTERED_CPR],
    )
    # a citizen asking about someone else
    assert_clean_error(
        cli("--as", "citizen", "consent", "show", "--cpr", UNREGISTERED_CPR, home=inst),
        6,
        "own data",
        cprs=[UNREGISTERED_CPR, CITIZEN_CPR],
    )


def test_cpr_given_as_positional_argument_is_redacted(inst: Path) -> None:
    for cpr in (CITIZEN_CPR, CITIZEN_CPR.replace("-", "")):
        result = cli("--as", "clin-a", "person", "show", "--cpr", CITIZEN_CPR, cpr, home=inst)
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        assert "unexpected extra argument" in result.output
        assert_no_cpr(result.output, CITIZEN_CPR)
    result = cli(CITIZEN_CPR, home=inst)  # a CPR where a command should be
    assert result.exit_code == 2
    assert_no_cpr(result.output, CITIZEN_CPR)


def test_bad_option_values(inst: Path) -> None:
    assert_clean_error(
        cli(
            "--as",
            "citizen",
            "consent",
            "set",
            "--cpr",
            CITIZEN_CPR,
            "--research",
            "maybe",
            home=inst,
        ),
        2,
        "--research takes allow or opt-out",
        cprs=[CITIZEN_CPR],
    )
    assert_clean_error(
        cli(
            "--as",
            "citizen",
            "consent",
            "set",
            "--cpr",
            CITIZEN_CPR,
            "--recontact",
            "perhaps",
            home=inst,
        ),
        2,
        "--recontact takes yes or no",
        cprs=[CITIZEN_CPR],
    )
