"""Service-level tests of an instance: init_instance, instance_status, open_platform, settings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import POSTGRES_ADMIN_URL, make_cpr
from helgenom.adapters.catalog.database import REVISION_TABLES, normalise_url
from helgenom.adapters.keys import INSTANCE_KEYS, SECRET_KEYS, KeyName
from helgenom.core.errors import (
    ConfigurationError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)
from helgenom.core.models import PLATFORM_ORG_CODE, OrgKind, Role
from helgenom.services.instance import Check, init_instance, instance_status
from helgenom.services.platform import open_platform
from helgenom.services.settings import (
    DEFAULT_PASSWORDS,
    Environment,
    Settings,
    config_path,
    load_settings,
)

HEAD = REVISION_TABLES[-1][0]
ALL_KEYS = INSTANCE_KEYS
CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/x"
HELGENOM_VARS = (
    "HELGENOM_HOME",
    "HELGENOM_USER",
    "HELGENOM_DATABASE_URL",
    "HELGENOM_ENVIRONMENT",
    "HELGENOM_KEYS_PATH",
    "HELGENOM_FORMAT_VERSION",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HELGENOM_* variable of the developer's shell leaks into a test."""
    for var in HELGENOM_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A not yet existing instance folder."""
    return tmp_path / "instance"


def key_bytes(home: Path) -> dict[str, bytes]:
    return {name.value: (home / "keys" / name.value).read_bytes() for name in ALL_KEYS}


def checks_by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def catalog_engine(home: Path, database_url: str | None) -> sa.Engine:
    url = database_url or f"sqlite:///{home / 'catalog.db'}"
    return sa.create_engine(normalise_url(url))


def run_sql(home: Path, database_url: str | None, sql: str) -> None:
    engine = catalog_engine(home, database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- init


def test_init_creates_config_catalog_keys_and_admin(home: Path, database_url: str | None) -> None:
    result = init_instance(home, database_url=database_url)

    assert result.home == home.resolve()
    assert result.migrated_to == HEAD
    assert result.admin == "admin"
    assert set(result.keys_created) == {k.value for k in ALL_KEYS}
    assert result.keys_kept == ()
    # config: private, and records the backend
    cfg = config_path(home)
    assert cfg.is_file()
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    text = cfg.read_text()
    assert "format_version = 1" in text
    assert 'environment = "production"' in text
    if database_url is None:
        assert (home / "catalog.db").is_file()
        assert result.database_url.startswith("sqlite:///")
        assert "database_url" not in text
    else:
        assert result.database_url.endswith(database_url.rsplit("/", 1)[1])
        assert database_url in text
    # keys: a separate folder, secret keys 0600, the public key readable
    keys = home / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for name in SECRET_KEYS:
        path = keys / name.value
        assert path.is_file(), name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert (keys / KeyName.CRYPT4GH_PUBLIC.value).is_file()
    assert (keys / KeyName.TOKEN_SIGNING.value).read_bytes().startswith(b"-----BEGIN PRIVATE KEY")
    assert (
        (keys / KeyName.CRYPT4GH_SECRET.value)
        .read_bytes()
        .startswith(b"-----BEGIN CRYPT4GH PRIVATE KEY-----")
    )
    # platform organisation and first admin
    with open_platform(str(home)) as p:
        assert p.catalog.current_revision() == p.catalog.head_revision() == HEAD
        orgs = {o.code: o for o in p.directory.list_orgs()}
        assert orgs[PLATFORM_ORG_CODE].kind is OrgKind.PLATFORM
        assert p.directory.first_admin() == "admin"
        ctx = p.context()
        assert ctx.actor.name == "admin"
        assert ctx.actor.role is Role.ADMIN
        assert ctx.actor.org_code == PLATFORM_ORG_CODE
        assert p.audit.verify(p.context()).ok


def test_keys_live_outside_the_catalog(home: Path) -> None:
    init_instance(home)
    catalog = b"".join(p.read_bytes() for p in home.glob("catalog.db*"))
    for name in SECRET_KEYS:
        for line in (home / "keys" / name.value).read_bytes().splitlines():
            if len(line) >= 16 and not line.startswith(b"-----") and not line.startswith(b"HELG"):
                assert line not in catalog, name


def test_init_with_custom_admin(home: Path) -> None:
    result = init_instance(home, admin="root.admin")
    assert result.admin == "root.admin"
    with open_platform(str(home)) as p:
        assert p.directory.first_admin() == "root.admin"
        assert p.context().actor.name == "root.admin"


def test_init_rejects_invalid_admin_name(home: Path) -> None:
    with pytest.raises(InvalidInputError, match="user name"):
        init_instance(home, admin="Bad Name")
    assert not home.exists()


def test_init_twice_refuses_and_force_never_overwrites_keys(
    home: Path, database_url: str | None
) -> None:
    init_instance(home, database_url=database_url)
    before = key_bytes(home)
    cfg_before = config_path(home).read_text()

    with pytest.raises(ConflictError, match=r"already a helgenom instance.*--force"):
        init_instance(home, database_url=database_url)
    assert key_bytes(home) == before

    result = init_instance(home, force=True)
    assert result.keys_created == ()
    assert set(result.keys_kept) == {k.value for k in ALL_KEYS}
    assert result.migrated_to == HEAD
    assert key_bytes(home) == before
    assert config_path(home).read_text() == cfg_before
    with open_platform(str(home)) as p:
        assert [o.code for o in p.directory.list_orgs()] == [PLATFORM_ORG_CODE]
        assert len(p.directory.list_users(p.context())) == 1  # no second admin


def test_init_force_adds_only_missing_keys(home: Path) -> None:
    init_instance(home)
    before = key_bytes(home)
    (home / "keys" / KeyName.TOKEN_SIGNING.value).unlink()
    result = init_instance(home, force=True)
    assert result.keys_created == (KeyName.TOKEN_SIGNING.value,)
    after = key_bytes(home)
    for name, data in before.items():
        if name != KeyName.TOKEN_SIGNING.value:
            assert after[name] == data, name
    assert after[KeyName.TOKEN_SIGNING.value] != before[KeyName.TOKEN_SIGNING.value]


def test_init_force_keeps_data(home: Path, database_url: str | None) -> None:
    init_instance(home, database_url=database_url)
    with open_platform(str(home)) as p:
        p.directory.add_org(p.context(), "DEP-A", "Department A")
    init_instance(home, force=True)
    with open_platform(str(home)) as p:
        assert "DEP-A" in {o.code for o in p.directory.list_orgs()}
        assert p.audit.verify(p.context()).ok


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("mysql://u@h/db", "unsupported database URL"),
        ("garbage", "unsupported database URL"),
        ("postgresql://u@h:notaport/db", "invalid database URL"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_init_rejects_bad_database_urls(home: Path, url: str, phrase: str) -> None:
    with pytest.raises(ConfigurationError, match=phrase):
        init_instance(home, database_url=url)
    assert not config_path(home).exists()


def test_init_unreachable_database(home: Path) -> None:
    with pytest.raises(StorageUnavailableError, match="unreachable"):
        init_instance(home, database_url=CLOSED_PORT_URL)
    assert not config_path(home).exists()
    assert not (home / "keys").exists(), "a failed init must not leave key files behind"


@pytest.mark.parametrize(
    "name", [KeyName.PSEUDONYM, KeyName.AUDIT, KeyName.CPR, KeyName.CRYPT4GH_SECRET]
)
def test_init_force_never_replaces_a_key_that_data_depends_on(home: Path, name: KeyName) -> None:
    init_instance(home)
    (home / "keys" / name.value).unlink()
    with pytest.raises(ConfigurationError, match="restore them from your key backup"):
        init_instance(home, force=True)
    assert not (home / "keys" / name.value).exists()


def test_init_force_keeps_environment_and_settings(home: Path) -> None:
    init_instance(home, environment=Environment.DEVELOPMENT)
    init_instance(home, force=True)
    assert load_settings(home).environment is Environment.DEVELOPMENT


def test_sqlite_catalog_is_private(home: Path) -> None:
    init_instance(home)
    mode = stat.S_IMODE((home / "catalog.db").stat().st_mode)
    assert mode == 0o600


@pytest.mark.postgres
def test_init_postgres_database_that_does_not_exist(home: Path, postgres_database_url: str) -> None:
    missing = postgres_database_url.rsplit("/", 1)[0] + "/helgenom_no_such_db"
    with pytest.raises(StorageUnavailableError, match='"helgenom_no_such_db" does not exist'):
        init_instance(home, database_url=missing)
    assert not config_path(home).exists()


@pytest.mark.parametrize("password", sorted(DEFAULT_PASSWORDS))
def test_init_refuses_default_password_in_production(home: Path, password: str) -> None:
    url = f"postgresql://postgres:{password}@127.0.0.1:1/x"
    with pytest.raises(ConfigurationError, match="well-known default password") as info:
        init_instance(home, database_url=url)
    assert f":{password}@" not in str(info.value)
    assert not config_path(home).exists()


def test_default_password_check_decodes_url_and_ignores_case() -> None:
    for pw in ("ChangeMe", "chang%65me", "PASSWORD"):
        settings = Settings(home=Path("/x"), database_url=f"postgresql://u:{pw}@h/db")
        with pytest.raises(ConfigurationError, match="default password"):
            settings.check_default_secrets()
    strong = Settings(home=Path("/x"), database_url="postgresql://u:Xk9-long-strong@h/db")
    strong.check_default_secrets()
    Settings(
        home=Path("/x"), database_url="postgresql://u@h/db"
    ).check_default_secrets()  # no password: peer/cert auth


@pytest.mark.postgres
def test_development_instance_accepts_default_password(
    home: Path, postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the test server trusts local connections, so the password is ignored by PostgreSQL
    url = postgres_database_url.replace("postgres@", "postgres:postgres@", 1)
    result = init_instance(home, database_url=url, environment=Environment.DEVELOPMENT)
    assert "postgres:postgres@" not in result.database_url  # password never displayed
    assert 'environment = "development"' in config_path(home).read_text()
    with open_platform(str(home)) as p:
        assert p.directory.first_admin() == "admin"
    # the same catalog refuses to open once the instance is declared production
    monkeypatch.setenv("HELGENOM_ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError, match="default password"):
        open_platform(str(home))


def test_init_home_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    with pytest.raises(ConfigurationError, match=r"cannot use .* as the instance folder"):
        init_instance(target)


def test_init_without_home() -> None:
    with pytest.raises(ConfigurationError, match="no instance selected"):
        init_instance(None)


def test_init_uses_helgenom_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELGENOM_HOME", str(home))
    result = init_instance(None)
    assert result.home == home.resolve()
    assert config_path(home).exists()


def test_init_home_argument_beats_helgenom_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other, chosen = tmp_path / "other", tmp_path / "chosen"
    monkeypatch.setenv("HELGENOM_HOME", str(other))
    init_instance(chosen)
    assert not other.exists()  # neither catalog nor keys leak into $HELGENOM_HOME
    assert (chosen / "catalog.db").is_file()
    assert (chosen / "keys" / KeyName.AUDIT.value).is_file()
    with open_platform(str(chosen)) as p:
        assert p.settings.home == chosen.resolve()
    assert all(c.ok for c in instance_status(chosen))


def test_init_rejects_invalid_env_setting(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELGENOM_ENVIRONMENT", "staging")
    with pytest.raises(ConfigurationError, match="environment"):
        init_instance(home)
    assert not home.exists()


# ----------------------------------------------------------------------------- status


def test_status_of_a_healthy_instance(instance_home: Path) -> None:
    checks = checks_by_name(instance_status(instance_home))
    assert all(c.ok for c in checks.values()), checks
    for name in SECRET_KEYS:
        assert checks[f"key {name.value}"].detail == "ok (mode 0600)"
    assert checks["catalog"].detail.startswith("reachable")
    assert checks["migrations"].detail == f"at {HEAD}"
    assert "production" in checks["config"].detail


def test_status_without_instance(tmp_path: Path) -> None:
    checks = instance_status(tmp_path / "nothing")
    assert len(checks) == 1
    assert not checks[0].ok
    assert "no helgenom instance" in checks[0].detail
    assert "helgenom init" in checks[0].detail
    checks = instance_status(None)
    assert not checks[0].ok
    assert "no instance selected" in checks[0].detail


def test_status_reports_unsafe_corrupt_and_missing_keys(home: Path) -> None:
    init_instance(home)
    keys = home / "keys"
    os.chmod(keys / KeyName.AUDIT.value, 0o644)
    (keys / KeyName.PSEUDONYM.value).write_text("garbage\n")
    (keys / KeyName.CRYPT4GH_SECRET.value).unlink()
    (keys / KeyName.CRYPT4GH_PUBLIC.value).unlink()
    checks = checks_by_name(instance_status(home))
    audit = checks[f"key {KeyName.AUDIT.value}"]
    assert not audit.ok
    assert "readable by others" in audit.detail
    assert "chmod 600" in audit.detail
    pseudonym = checks[f"key {KeyName.PSEUDONYM.value}"]
    assert not pseudonym.ok
    assert "corrupt" in pseudonym.detail
    assert "backup" in pseudonym.detail
    assert not checks[f"key {KeyName.CRYPT4GH_SECRET.value}"].ok
    assert "missing" in checks[f"key {KeyName.CRYPT4GH_SECRET.value}"].detail
    assert not checks[f"key {KeyName.CRYPT4GH_PUBLIC.value}"].ok
    assert checks[f"key {KeyName.CPR.value}"].ok
    assert checks["catalog"].ok


def test_status_unreachable_catalog(instance_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELGENOM_DATABASE_URL", CLOSED_PORT_URL)
    checks = checks_by_name(instance_status(instance_home))
    assert not checks["catalog"].ok
    assert "unreachable" in checks["catalog"].detail
    assert "migrations" not in checks


def test_status_default_secret(instance_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELGENOM_DATABASE_URL", "postgresql://postgres:changeme@127.0.0.1:1/x")
    checks = checks_by_name(instance_status(instance_home))
    assert not checks["secrets"].ok
    assert "changeme" not in checks["secrets"].detail
    assert all("changeme" not in c.detail for c in checks.values())


def test_status_outdated_catalog(instance_home: Path, database_url: str | None) -> None:
    run_sql(instance_home, database_url, "DROP TABLE alembic_version")
    checks = checks_by_name(instance_status(instance_home))
    assert checks["catalog"].ok
    assert not checks["migrations"].ok
    assert "init --force" in checks["migrations"].detail


# ----------------------------------------------------------------------------- open_platform


def test_open_platform_without_instance(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no instance selected"):
        open_platform(None)
    with pytest.raises(ConfigurationError, match="no helgenom instance at"):
        open_platform(str(tmp_path / "nothing"))


def test_open_platform_via_helgenom_home(
    instance_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELGENOM_HOME", str(instance_home))
    with open_platform() as p:
        assert p.settings.home == instance_home.resolve()


def test_open_platform_key_readable_by_others(instance_home: Path) -> None:
    path = instance_home / "keys" / KeyName.CPR.value
    os.chmod(path, 0o640)
    with pytest.raises(ConfigurationError, match=r"readable by others.*chmod 600"):
        open_platform(str(instance_home))


@pytest.mark.parametrize("name", SECRET_KEYS, ids=lambda n: n.value)
@pytest.mark.parametrize("content", [b"garbage\n", b"", b"\xff\xfe\x00\x01"], ids=repr)
def test_open_platform_corrupt_key(home: Path, name: KeyName, content: bytes) -> None:
    init_instance(home)
    path = home / "keys" / name.value
    original = path.read_bytes()
    path.write_bytes(content)
    with pytest.raises(IntegrityError, match=r"corrupt.*restore it from .*backup") as info:
        open_platform(str(home))
    assert original.decode() not in str(info.value)


def test_open_platform_symmetric_key_of_wrong_length(home: Path) -> None:
    init_instance(home)
    path = home / "keys" / KeyName.AUDIT.value
    path.write_text(f"HELGENOM-KEY v1 {KeyName.AUDIT.value}\nAAAA\n")
    with pytest.raises(IntegrityError, match="expected 32 bytes"):
        open_platform(str(home))


def test_open_platform_missing_key(instance_home: Path) -> None:
    (instance_home / "keys" / KeyName.PSEUDONYM.value).unlink()
    with pytest.raises(ConfigurationError, match="missing; restore it from your key backup"):
        open_platform(str(instance_home))


def test_open_platform_unreachable_database(
    instance_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELGENOM_DATABASE_URL", CLOSED_PORT_URL)
    with pytest.raises(StorageUnavailableError, match="unreachable"):
        open_platform(str(instance_home))


@pytest.mark.postgres
def test_open_platform_postgres_database_dropped(home: Path, postgres_database_url: str) -> None:
    init_instance(home, database_url=postgres_database_url)
    engine = sa.create_engine(normalise_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = postgres_database_url.rsplit("/", 1)[1]
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        open_platform(str(home))


def test_open_platform_outdated_catalog_then_init_force_repairs(
    instance_home: Path, database_url: str | None
) -> None:
    with open_platform(str(instance_home)) as p:
        p.directory.add_org(p.context(), "DEP-A", "Department A")
    run_sql(instance_home, database_url, "DROP TABLE alembic_version")
    with pytest.raises(ConfigurationError, match=r"schema revision none .*helgenom init .*--force"):
        open_platform(str(instance_home))
    result = init_instance(instance_home, force=True)
    assert result.migrated_to == HEAD
    with open_platform(str(instance_home)) as p:
        assert "DEP-A" in {o.code for o in p.directory.list_orgs()}
        assert p.audit.verify(p.context()).ok
    assert all(c.ok for c in instance_status(instance_home))


def test_unknown_catalog_revision(instance_home: Path, database_url: str | None) -> None:
    run_sql(instance_home, database_url, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ConfigurationError, match="schema revision 9999"):
        open_platform(str(instance_home))
    with pytest.raises(ConfigurationError, match="does not know"):
        init_instance(instance_home, force=True)


def test_open_platform_refuses_default_password(
    instance_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELGENOM_DATABASE_URL", "postgresql://postgres:password@127.0.0.1:1/x")
    with pytest.raises(ConfigurationError, match="default password"):
        open_platform(str(instance_home))


# ----------------------------------------------------------------------------- acting principal


@pytest.fixture
def populated(instance_home: Path) -> Path:
    with open_platform(str(instance_home)) as p:
        admin = p.context()
        p.directory.add_org(admin, "DEP-A", "Department A")
        p.directory.add_user(admin, "clin-a", Role.CLINICIAN, "DEP-A")
        p.directory.add_user(admin, "citizen", Role.CITIZEN, None, cpr=make_cpr(1))
    return instance_home


def test_acting_principal_selection(populated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_platform(str(populated)) as p:
        assert p.context().actor.name == "admin"
        assert p.context("clin-a").actor.role is Role.CLINICIAN
        with pytest.raises(NotFoundError, match="no user named 'nobody'"):
            p.context("nobody")
    monkeypatch.setenv("HELGENOM_USER", "citizen")
    with open_platform(str(populated)) as p:
        assert p.context().actor.name == "citizen"
        assert p.context("clin-a").actor.name == "clin-a"  # explicit --as wins
    monkeypatch.setenv("HELGENOM_USER", "ghost")
    with open_platform(str(populated)) as p, pytest.raises(NotFoundError, match="ghost"):
        p.context()


def test_directory_errors(populated: Path) -> None:
    cpr = make_cpr(1)
    with open_platform(str(populated)) as p:
        admin = p.context()
        with pytest.raises(ConflictError, match="organisation DEP-A already exists"):
            p.directory.add_org(admin, "DEP-A", "Again")
        with pytest.raises(ConflictError, match="'clin-a' already exists"):
            p.directory.add_user(admin, "clin-a", Role.CLINICIAN, "DEP-A")
        with pytest.raises(NotFoundError, match="organisation NOPE does not exist"):
            p.directory.add_user(admin, "clin-x", Role.CLINICIAN, "NOPE")
        with pytest.raises(ConflictError, match="already has a citizen user") as info:
            p.directory.add_user(admin, "citizen2", Role.CITIZEN, None, cpr=cpr)
        assert cpr not in str(info.value)
        assert cpr.replace("-", "") not in str(info.value)


# ----------------------------------------------------------------------------- settings


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    config_path(home).write_text(text)


def test_load_settings_from_file(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        'format_version = 1\nenvironment = "development"\n'
        'database_url = "postgresql://u@db.example/helgenom"\nkeys_path = "secrets"\n',
    )
    s = load_settings(tmp_path)
    assert s.environment is Environment.DEVELOPMENT
    assert s.resolved_database_url == "postgresql://u@db.example/helgenom"
    assert s.resolved_keys_path == tmp_path.resolve() / "secrets"
    assert s.home == tmp_path.resolve()


def test_load_settings_defaults(tmp_path: Path) -> None:
    write_config(tmp_path, "format_version = 1\n")
    s = load_settings(tmp_path)
    assert s.environment is Environment.PRODUCTION
    assert s.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'catalog.db'}"
    assert s.resolved_keys_path == tmp_path.resolve() / "keys"
    assert s.user is None


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        tmp_path,
        'format_version = 1\nenvironment = "production"\ndatabase_url = "sqlite:////a.db"\n',
    )
    monkeypatch.setenv("HELGENOM_ENVIRONMENT", "development")
    monkeypatch.setenv("HELGENOM_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("HELGENOM_USER", "clin-a")
    monkeypatch.setenv("HELGENOM_KEYS_PATH", str(tmp_path / "elsewhere"))
    s = load_settings(tmp_path)
    assert s.environment is Environment.DEVELOPMENT
    assert s.database_url == "postgresql://u@h/db"
    assert s.user == "clin-a"
    assert s.resolved_keys_path == tmp_path / "elsewhere"


def test_selected_home_beats_helgenom_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_config(a, 'format_version = 1\nenvironment = "development"\n')
    write_config(b, "format_version = 1\n")
    monkeypatch.setenv("HELGENOM_HOME", str(a))
    assert load_settings().home == a.resolve()
    assert load_settings().environment is Environment.DEVELOPMENT
    s = load_settings(b)
    assert s.home == b.resolve()
    assert s.environment is Environment.PRODUCTION
    assert s.resolved_keys_path == b.resolve() / "keys"


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("environment = [\n", "not valid TOML"),
        ("format_version = 1\nenvironment = \n", "not valid TOML"),
        ('environment = "production"\n', "format_version None"),
        ("format_version = 7\n", "format_version 7"),
        ('format_version = 1\nenvironment = "staging"\n', "environment"),
        ("format_version = 1\nkeys_path = 3\n", "keys_path"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, phrase: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigurationError, match=phrase) as info:
        load_settings(tmp_path)
    assert "\n" not in str(info.value)
    checks = instance_status(tmp_path)
    assert len(checks) == 1
    assert not checks[0].ok


def test_invalid_env_value_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, "format_version = 1\n")
    monkeypatch.setenv("HELGENOM_ENVIRONMENT", "staging")
    with pytest.raises(ConfigurationError, match=r"invalid settings.*environment"):
        load_settings(tmp_path)


def test_every_migration_names_a_table_to_recognise_it() -> None:
    """An unstamped catalog is recognised revision by revision: none may be left out."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from helgenom.adapters.catalog.database import MIGRATIONS_PATH

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_PATH))
    revisions = [r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()]
    assert list(reversed(revisions)) == [revision for revision, _ in REVISION_TABLES]


def test_migrations_build_exactly_the_schema(home: Path, database_url: str | None) -> None:
    """Alembic's migrations and ``schema.metadata`` describe the same catalog."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from helgenom.adapters.catalog.schema import metadata

    init_instance(home, database_url=database_url)
    engine = catalog_engine(home, database_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert differences == []
