"""Creating an instance (``helgenom init``) and reporting its health (``helgenom status``)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from pydantic import ValidationError

from helgenom.adapters.audit import AuditDraft, SqlAuditLog
from helgenom.adapters.catalog import create_catalog
from helgenom.adapters.catalog.schema import instance_meta, organisations, principals
from helgenom.adapters.files import write_private
from helgenom.adapters.keys import INSTANCE_KEYS, IRREPLACEABLE_KEYS, KeyName, KeyStore
from helgenom.adapters.objectstore import create_store
from helgenom.core.errors import ConfigurationError, ConflictError, HelgenomError
from helgenom.core.models import PLATFORM_ORG_CODE, OrgKind, Role
from helgenom.services.directory import check_name
from helgenom.services.settings import (
    Environment,
    Settings,
    config_path,
    dump_config,
    load_settings,
    resolve_home,
)


@dataclass(frozen=True, slots=True)
class InitResult:
    """What ``helgenom init`` did."""

    home: Path
    database_url: str
    keys_created: tuple[str, ...]
    keys_kept: tuple[str, ...]
    admin: str
    migrated_to: str | None
    object_store_url: str


@dataclass(frozen=True, slots=True)
class Check:
    """One health check."""

    name: str
    ok: bool
    detail: str


def init_instance(
    home: Path | str | None,
    *,
    database_url: str | None = None,
    admin: str = "admin",
    force: bool = False,
    environment: Environment | None = None,
    object_store_url: str | None = None,
    s3_endpoint_url: str | None = None,
) -> InitResult:
    """Create (or with ``force``, repair/upgrade) an instance. Never overwrites a key.

    The database is checked before any key is made, so a failed init leaves no key
    files behind. On an instance that already holds data, a missing pseudonymisation,
    audit, CPR-encryption or Crypt4GH key is never replaced by a new one (that would
    orphan the data): restore it from the key backup instead.
    """
    home_path = resolve_home(home)
    check_name(admin)
    cfg = config_path(home_path)
    existing = cfg.exists()
    if existing and not force:
        raise ConflictError(
            f"{home_path} is already a helgenom instance; use --force to upgrade its catalog "
            "and add missing keys (existing keys are never overwritten)"
        )
    if existing:
        settings = load_settings(home_path)
        update: dict[str, object] = {}
        if database_url is not None:
            update["database_url"] = database_url
        if environment is not None:
            update["environment"] = environment
        if object_store_url is not None:
            update["object_store_url"] = object_store_url
        if s3_endpoint_url is not None:
            update["s3_endpoint_url"] = s3_endpoint_url
        settings = settings.model_copy(update=update)
    else:
        try:
            settings = Settings(
                home=home_path,
                environment=environment or Environment.PRODUCTION,
                database_url=database_url or "",
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigurationError(f"invalid HELGENOM_* settings: {problems}") from None
        # HELGENOM_* variables outrank init values in Settings, but the selected home and
        # explicit options must win (else catalog and keys land in $HELGENOM_HOME), and a
        # relative keys_path is relative to the home, as in load_settings.
        explicit: dict[str, object] = {"home": home_path}
        if database_url is not None:
            explicit["database_url"] = database_url
        if environment is not None:
            explicit["environment"] = environment
        if object_store_url is not None:
            explicit["object_store_url"] = object_store_url
        if s3_endpoint_url is not None:
            explicit["s3_endpoint_url"] = s3_endpoint_url
        if settings.keys_path is not None and not settings.keys_path.is_absolute():
            explicit["keys_path"] = home_path / settings.keys_path
        settings = settings.model_copy(update=explicit)
    settings.check_default_secrets()
    catalog = create_catalog(settings.resolved_database_url)
    try:
        home_path.mkdir(parents=True, exist_ok=True)
        os.chmod(home_path, 0o700)
    except OSError as exc:
        catalog.dispose()
        raise ConfigurationError(
            f"cannot use {home_path} as the instance folder: {exc.strerror}; give --home a "
            "new or empty folder"
        ) from None
    try:
        catalog.ping()
        has_data = catalog.has_instance_data()
    finally:
        catalog.dispose()
    check_object_store(settings)
    keys = KeyStore(settings.resolved_keys_path)
    if has_data:
        missing = [n.value for n in IRREPLACEABLE_KEYS if not keys.path(n).exists()]
        if missing:
            raise ConfigurationError(
                f"the catalog already holds an instance's data but key file(s) "
                f"{', '.join(missing)} are missing from {keys.keys_path}; a new key would make "
                "that data unreadable or unlinkable: restore them from your key backup"
            )
    kept = tuple(n.value for n in INSTANCE_KEYS if keys.path(n).exists())
    created = tuple(n.value for n in keys.generate_missing())
    audit_key = keys.load_symmetric(KeyName.AUDIT)
    for name in (KeyName.PSEUDONYM, KeyName.CPR):
        keys.load_symmetric(name)
    catalog = create_catalog(settings.resolved_database_url)
    try:
        catalog.ping()
        catalog.upgrade()
        audit_log = SqlAuditLog(catalog, audit_key)
        now = dt.datetime.now(dt.UTC)
        with catalog.begin() as conn:
            audit_log.initialise(conn)
            meta = {r.key: r.value for r in conn.execute(sa.select(instance_meta)).all()}
            if "instance_id" not in meta:
                conn.execute(
                    instance_meta.insert(),
                    [
                        {"key": "instance_id", "value": secrets.token_hex(8)},
                        {"key": "created_at", "value": now.isoformat()},
                        {"key": "first_admin", "value": admin},
                    ],
                )
                first_admin = admin
            else:
                first_admin = meta.get("first_admin", admin)
            if (
                conn.execute(
                    sa.select(organisations.c.code).where(organisations.c.code == PLATFORM_ORG_CODE)
                ).first()
                is None
            ):
                conn.execute(
                    organisations.insert().values(
                        code=PLATFORM_ORG_CODE,
                        name="National genome platform",
                        kind=OrgKind.PLATFORM.value,
                        created_at=now,
                    )
                )
            if (
                conn.execute(
                    sa.select(principals.c.name).where(principals.c.name == first_admin)
                ).first()
                is None
            ):
                conn.execute(
                    principals.insert().values(
                        name=first_admin,
                        role=Role.ADMIN.value,
                        org_code=PLATFORM_ORG_CODE,
                        created_at=now,
                        created_by="helgenom-init",
                    )
                )
                audit_log.append(
                    conn,
                    [
                        AuditDraft(
                            actor="helgenom-init",
                            role=Role.ADMIN.value,
                            org=PLATFORM_ORG_CODE,
                            purpose="administration",
                            action="principal.manage",
                            resource=f"principal/{first_admin}",
                            subjects=(),
                            decision="allow",
                            reason="first admin created by helgenom init",
                        )
                    ],
                )
        revision = catalog.current_revision()
        catalog.restrict_file_permissions()
    finally:
        catalog.dispose()
    write_private(cfg, dump_config(settings).encode("utf-8"), overwrite=True)
    return InitResult(
        home_path,
        catalog.url_for_display,
        created,
        tuple(k for k in kept if k not in created),
        first_admin,
        revision,
        settings.resolved_object_store_url,
    )


def check_object_store(settings: Settings) -> str:
    """Raise unless the object store answers; returns its URL for display."""
    store = create_store(
        settings.resolved_object_store_url,
        endpoint_url=settings.s3_endpoint_url,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        region=settings.s3_region,
    )
    try:
        next(iter(store.list("bodies/")), None)
    finally:
        store.close()
    return store.url


def instance_status(home: Path | str | None) -> list[Check]:
    """Health of the instance: config, keys, catalog reachable, migrations current, audit head."""
    checks: list[Check] = []
    try:
        settings = load_settings(home)
    except HelgenomError as exc:
        return [Check("config", False, str(exc))]
    checks.append(
        Check("config", True, f"{config_path(settings.home)} ({settings.environment.value})")
    )
    try:
        settings.check_default_secrets()
        checks.append(Check("secrets", True, "no default secrets"))
    except HelgenomError as exc:
        checks.append(Check("secrets", False, str(exc)))
    for key in KeyStore(settings.resolved_keys_path).check():
        checks.append(Check(f"key {key.name}", key.ok, key.detail))
    catalog = create_catalog(settings.resolved_database_url)
    try:
        catalog.ping()
        checks.append(Check("catalog", True, f"reachable: {catalog.url_for_display}"))
        current, head = catalog.current_revision(), catalog.head_revision()
        checks.append(
            Check(
                "migrations",
                current == head,
                f"at {current}"
                if current == head
                else f"at {current or 'none'}, needs {head}: run helgenom init --force",
            )
        )
    except HelgenomError as exc:
        checks.append(Check("catalog", False, str(exc)))
    finally:
        catalog.dispose()
    try:
        checks.append(Check("object store", True, f"reachable: {check_object_store(settings)}"))
    except HelgenomError as exc:
        checks.append(Check("object store", False, str(exc)))
    return checks
