"""Settings from ``HELGENOM_*`` environment variables and the instance's config file.

Precedence, highest first: environment variables, then ``HELGENOM_HOME/helgenom.toml``,
then defaults. Nothing is read at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import enum
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from helgenom.core.errors import ConfigurationError
from helgenom.core.models import Role

CONFIG_FILE_NAME = "helgenom.toml"
CONFIG_FORMAT_VERSION = 1

DEFAULT_PASSWORDS = frozenset(
    {
        "postgres",
        "password",
        "changeme",
        "change-me",
        "secret",
        "admin",
        "helgenom",
        "test",
        "minioadmin",
    }
)
"""Database passwords a production instance refuses."""


class Environment(enum.StrEnum):
    """Development instances relax the checks on default secrets; production does not."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


def _check_key_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"{what} {url!r} must be an https:// URL (http:// only on loopback)")


class OidcIssuerSettings(BaseModel):
    """An external OpenID Connect provider whose bearer JWTs (RS256/ES256) the API accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)
    """The provider's ``iss``, exactly as in its tokens."""
    audience: str = Field(min_length=1)
    """The ``aud`` its tokens must carry for this API."""
    jwks_uri: str | None = None
    """Where its signing keys are; None: from ``ISSUER/.well-known/openid-configuration``."""
    jwks_path: Path | None = None
    """A local JWKS file instead (air-gapped sites; relative to the instance folder)."""
    principal_claim: str = "sub"
    """The claim that names the helgenom user (``sub``, or e.g. ``preferred_username``)."""
    principals: dict[str, str] = Field(default_factory=dict)
    """Claim value -> user name; when given, only listed values sign in. Else the claim
    value is the user name itself."""
    roles: list[Role] = Field(default_factory=lambda: [Role.RESEARCHER])
    """Roles of the users this provider may sign in (default: researchers only)."""

    @model_validator(mode="after")
    def _check(self) -> OidcIssuerSettings:
        if self.jwks_uri is not None and self.jwks_path is not None:
            raise ValueError(f"issuer {self.issuer}: give jwks_uri or jwks_path, not both")
        if self.jwks_uri is not None:
            _check_key_url(self.jwks_uri, "jwks_uri")
        elif self.jwks_path is None:
            _check_key_url(self.issuer, "issuer (used for discovery)")
        return self


class VisaIssuerSettings(BaseModel):
    """An allow-listed issuer of GA4GH Passport visas (ControlledAccessGrants)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)
    """The visas' ``iss``."""
    jwks_uri: str | None = None
    """Where its signing keys are; None: from ``ISSUER/.well-known/openid-configuration``."""
    jwks_path: Path | None = None
    """A local JWKS file instead (air-gapped sites; relative to the instance folder)."""
    value_prefix: str = ""
    """A visa's ``value`` is this prefix followed by a project code (empty: the code)."""
    by: list[str] = Field(default_factory=lambda: ["dac"])
    """Accepted ``by`` of a grant (who asserted it; default the data access committee)."""

    @model_validator(mode="after")
    def _check(self) -> VisaIssuerSettings:
        if self.jwks_uri is not None and self.jwks_path is not None:
            raise ValueError(f"visa issuer {self.issuer}: give jwks_uri or jwks_path, not both")
        if self.jwks_uri is not None:
            _check_key_url(self.jwks_uri, "jwks_uri")
        elif self.jwks_path is None:
            _check_key_url(self.issuer, "issuer (used for discovery)")
        return self


class Settings(BaseSettings):
    """The settings of one helgenom instance."""

    model_config = SettingsConfigDict(env_prefix="HELGENOM_", extra="ignore")

    home: Path
    """The instance folder (``HELGENOM_HOME``)."""
    environment: Environment = Environment.PRODUCTION
    """``production`` (default) or ``development``."""
    database_url: str = ""
    """Catalog database URL; default ``sqlite:///HOME/catalog.db``."""
    keys_path: Path | None = Field(default=None)
    """Folder of key files; default ``HOME/keys``."""
    user: str | None = None
    """Acting principal on the embedded profile (``HELGENOM_USER``)."""
    object_store_url: str = ""
    """Where encrypted bodies go: ``file:///PATH`` (default ``HOME/objects``) or ``s3://B/P``."""
    s3_endpoint_url: str | None = None
    """S3 endpoint of a non-AWS server (``http://host:port``)."""
    s3_access_key_id: str | None = None
    """S3 access key id (else the usual AWS_* environment variables)."""
    s3_secret_access_key: str | None = Field(default=None, repr=False)
    """S3 secret key (else the usual AWS_* environment variables)."""
    s3_region: str | None = None
    """S3 region."""
    qc_min_mapping_rate: float = Field(default=0.9, ge=0.0, le=1.0)
    """QC fails below this share of mapped reads."""
    qc_max_duplicate_rate: float = Field(default=0.3, ge=0.0, le=1.0)
    """QC fails above this share of duplicate reads."""
    qc_min_mean_coverage: float = Field(default=20.0, ge=0.0)
    """QC fails below this mean depth (duplicates excluded)."""
    qc_min_fraction_ge_20x: float = Field(default=0.8, ge=0.0, le=1.0)
    """QC fails below this share of bases covered 20x or more."""
    pipeline_cores: int = Field(default=2, ge=1)
    """Cores a pipeline run uses unless ``--cores`` says otherwise."""
    slurm_partition: str | None = None
    """Slurm partition of pipeline jobs (``--executor slurm``); None: the cluster's default."""
    slurm_account: str | None = None
    """Slurm account pipeline jobs are charged to; None: submitted without ``--account``."""
    slurm_max_jobs: int = Field(default=4, ge=1)
    """Slurm jobs of one pipeline run queued or running at once."""
    slurm_status_command: Literal["squeue", "sacct"] = "squeue"
    """How job states are polled: ``squeue`` (no accounting database) or ``sacct``."""
    variant_engine: Literal["duckdb", "spark"] = "duckdb"
    """Query engine of the genome database: ``duckdb`` (embedded) or ``spark``."""
    spark_master: str = "local[2]"
    """Spark master URL with ``variant_engine = spark`` (``spark://host:7077`` on a cluster)."""
    duckdb_memory_limit: str = "4GB"
    """Memory the embedded engine (DuckDB) may use; larger queries spill to ``HOME/work``."""
    token_issuer: str = "urn:helgenom:local"  # noqa: S105 - an issuer name
    """``iss`` of the bearer tokens this instance issues and accepts."""
    token_audience: str = "helgenom-api"  # noqa: S105 - an audience name
    """``aud`` of the bearer tokens this instance issues and accepts."""
    oidc_issuers: list[OidcIssuerSettings] = Field(default_factory=list)
    """External OIDC providers whose bearer tokens the API accepts (``[[oidc_issuers]]``)."""
    passport_visa_issuers: list[VisaIssuerSettings] = Field(default_factory=list)
    """Allow-listed GA4GH Passport visa issuers (``[[passport_visa_issuers]]``)."""
    report_second_signer: bool = False
    """Whether a clinical report needs a second geneticist's signature before it is issued."""
    secondary_findings_genes: list[str] | None = None
    """Genes screened for secondary findings (None: the ACMG SF v3.2 list)."""
    format_version: int = CONFIG_FORMAT_VERSION
    """Version of the config file format."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables override the config file, which is passed as init values.
        return (env_settings, init_settings)

    @property
    def resolved_database_url(self) -> str:
        """The catalog URL, with the embedded default filled in."""
        return self.database_url or f"sqlite:///{self.home / 'catalog.db'}"

    @property
    def resolved_object_store_url(self) -> str:
        """The object store URL, with the embedded default filled in."""
        return self.object_store_url or (self.home / "objects").as_uri()

    @property
    def resolved_keys_path(self) -> Path:
        """The keys folder."""
        return self.keys_path or self.home / "keys"

    def check_default_secrets(self) -> None:
        """Refuse default secrets outside development."""
        if self.environment is Environment.DEVELOPMENT:
            return
        secret = self.s3_secret_access_key
        if secret is not None and secret.lower() in DEFAULT_PASSWORDS:
            raise ConfigurationError(
                "s3_secret_access_key is a well-known default; a production instance refuses "
                "to start with it: set the object store's real credentials"
            )
        password = urlsplit(self.resolved_database_url).password
        if password is not None and unquote(password).lower() in DEFAULT_PASSWORDS:
            raise ConfigurationError(
                "the database URL uses a well-known default password; a production instance "
                "refuses to start with it: set a strong password (or use certificate/peer "
                'authentication) and update database_url, or set environment = "development" '
                "for a throwaway instance"
            )


def config_path(home: Path) -> Path:
    """The config file of the instance at ``home``."""
    return home / CONFIG_FILE_NAME


def read_config_file(home: Path) -> dict[str, Any]:
    """Read ``home/helgenom.toml``; raises ConfigurationError when absent or invalid."""
    path = config_path(home)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(
            f"no helgenom instance at {home}: {path.name} is missing; create one with "
            f"helgenom init --home {home}, or point HELGENOM_HOME at an existing instance"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None
    version = data.get("format_version")
    if version != CONFIG_FORMAT_VERSION:
        raise ConfigurationError(
            f"config file {path} has format_version {version!r}; this helgenom reads "
            f"version {CONFIG_FORMAT_VERSION}"
        )
    return data


def resolve_home(home: Path | str | None) -> Path:
    """The instance folder: the argument, else ``HELGENOM_HOME``."""
    if home is None:
        env = os.environ.get("HELGENOM_HOME")
        if not env:
            raise ConfigurationError(
                "no instance selected: pass --home DIR or set HELGENOM_HOME "
                "(create an instance with helgenom init --home DIR)"
            )
        home = env
    return Path(home).expanduser().resolve()


def load_settings(home: Path | str | None = None) -> Settings:
    """Load the settings of the instance at ``home`` (or ``HELGENOM_HOME``)."""
    home_path = resolve_home(home)
    data = read_config_file(home_path)
    data["home"] = home_path
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid settings for instance {home_path}: {problems}") from None
    # The selected home wins over HELGENOM_HOME; relative key paths are relative to it.
    keys = settings.keys_path
    if keys is not None and not keys.is_absolute():
        keys = home_path / keys
    return settings.model_copy(update={"home": home_path, "keys_path": keys})


def dump_config(settings: Settings) -> str:
    """The TOML text of the config file for ``settings``."""
    lines = [
        "# helgenom instance configuration. Environment variables HELGENOM_* override it.",
        f"format_version = {CONFIG_FORMAT_VERSION}",
        f'environment = "{settings.environment.value}"',
    ]
    if settings.database_url:
        lines.append(f"database_url = {_toml_string(settings.database_url)}")
    if settings.keys_path is not None:
        lines.append(f"keys_path = {_toml_string(str(settings.keys_path))}")
    if settings.object_store_url:
        lines.append(f"object_store_url = {_toml_string(settings.object_store_url)}")
    if settings.s3_endpoint_url:
        lines.append(f"s3_endpoint_url = {_toml_string(settings.s3_endpoint_url)}")
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
