"""Building the services of an instance from its settings (no import-time singletons)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from helgenom.adapters.audit import SqlAuditLog
from helgenom.adapters.catalog import Catalog, create_catalog
from helgenom.adapters.keys import KeyName, KeyStore
from helgenom.adapters.objectstore import create_store
from helgenom.adapters.objectstore.crypt4gh import Crypt4ghKeyring, Crypt4ghStore
from helgenom.core.access import DEFAULT_PURPOSE, ROLE_PURPOSES
from helgenom.core.errors import ConfigurationError, InvalidInputError, PermissionDeniedError
from helgenom.core.models import Principal, Purpose, RequestContext, VisaGrant
from helgenom.core.quality import QcThresholds
from helgenom.services.audit import AuditService
from helgenom.services.beacon import BeaconService
from helgenom.services.cases import AnnotationService, CaseService
from helgenom.services.directory import DirectoryService
from helgenom.services.gate import Gate
from helgenom.services.htsget import HtsgetService
from helgenom.services.identity import ConsentService, PersonService, Vault
from helgenom.services.indications import IndicationService
from helgenom.services.objects import ObjectService
from helgenom.services.pipeline import PipelineService
from helgenom.services.references import ReferenceService
from helgenom.services.requisitions import RequisitionService
from helgenom.services.research import ResearchService
from helgenom.services.samples import SampleService
from helgenom.services.settings import Settings, load_settings
from helgenom.services.tokens import TokenService
from helgenom.services.variants import VariantService


@dataclass
class Platform:
    """All services of one open instance."""

    settings: Settings
    catalog: Catalog
    keys: KeyStore
    gate: Gate
    directory: DirectoryService
    persons: PersonService
    consent: ConsentService
    requisitions: RequisitionService
    samples: SampleService
    research: ResearchService
    audit: AuditService
    objects: ObjectService
    indications: IndicationService
    references: ReferenceService
    pipeline: PipelineService
    variants: VariantService
    annotation: AnnotationService
    cases: CaseService
    tokens: TokenService
    beacon: BeaconService
    htsget: HtsgetService

    def context(
        self,
        actor: str | None = None,
        *,
        purpose: str | Purpose | None = None,
        project: str | None = None,
    ) -> RequestContext:
        """A request context for principal ``actor`` (default: settings.user, else first admin)."""
        name = actor or self.settings.user or self.directory.first_admin()
        principal = self.directory.principal(name)
        return make_context(principal, purpose=purpose, project=project)

    def close(self) -> None:
        """Release database connections (and a query engine's session)."""
        try:
            self.variants.close()
        finally:
            self.catalog.dispose()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_context(
    principal: Principal,
    *,
    purpose: str | Purpose | None = None,
    project: str | None = None,
    grants: tuple[VisaGrant, ...] = (),
) -> RequestContext:
    """Build a context; the purpose defaults to the role's usual one. ``grants`` are the
    verified Passport visas of the request's token."""
    if purpose is None:
        chosen = DEFAULT_PURPOSE[principal.role]
    else:
        try:
            chosen = Purpose(purpose)
        except ValueError:
            names = ", ".join(p.value for p in Purpose)
            raise InvalidInputError(f"unknown purpose {purpose!r}: choose one of {names}") from None
    if chosen not in ROLE_PURPOSES[principal.role]:
        allowed = ", ".join(sorted(p.value for p in ROLE_PURPOSES[principal.role]))
        raise PermissionDeniedError(
            f"role {principal.role.value} may not act for purpose {chosen.value} "
            f"(allowed: {allowed})"
        )
    return RequestContext(principal, chosen, project, grants)


def open_platform(home: str | None = None, *, settings: Settings | None = None) -> Platform:
    """Open the instance at ``home`` (or ``HELGENOM_HOME``), checking keys and catalog.

    Raises
    ------
    ConfigurationError
        No instance, unsafe key files, default secrets, or an outdated catalog.
    IntegrityError
        A corrupt key file.
    StorageUnavailableError
        The catalog database cannot be reached.
    """
    settings = settings or load_settings(home)
    settings.check_default_secrets()
    keys = KeyStore(settings.resolved_keys_path)
    pseudonym_key = keys.load_symmetric(KeyName.PSEUDONYM)
    audit_key = keys.load_symmetric(KeyName.AUDIT)
    cpr_key = keys.load_symmetric(KeyName.CPR)
    keys.load_token_signing_pem()
    keys.load_crypt4gh_secret()
    catalog = create_catalog(settings.resolved_database_url)
    try:
        catalog.ping()
        current, head = catalog.current_revision(), catalog.head_revision()
        if current != head:
            raise ConfigurationError(
                f"the catalog is at schema revision {current or 'none'} but this helgenom needs "
                f"{head}: upgrade it with helgenom init --home {settings.home} --force "
                "(keys are kept)"
            )
    except BaseException:
        catalog.dispose()
        raise
    audit_log = SqlAuditLog(catalog, audit_key)
    gate = Gate(catalog, audit_log)
    vault = Vault(pseudonym_key, cpr_key)
    objects = ObjectService(
        catalog, gate, keys, _store_factory(settings), settings.home / "backups"
    )
    references = ReferenceService(catalog, gate, settings.home)
    thresholds = QcThresholds(
        min_mapping_rate=settings.qc_min_mapping_rate,
        max_duplicate_rate=settings.qc_max_duplicate_rate,
        min_mean_coverage=settings.qc_min_mean_coverage,
        min_fraction_ge_20x=settings.qc_min_fraction_ge_20x,
    )
    variants = VariantService(
        catalog,
        gate,
        vault,
        objects,
        references,
        settings.home / "variants",
        settings.home / "work",
        engine=settings.variant_engine,
        spark_master=settings.spark_master,
        project_key=pseudonym_key,
        duckdb_memory_limit=settings.duckdb_memory_limit,
    )
    annotation = AnnotationService(catalog, gate, references, settings.home / "annotation")
    case_service = CaseService(
        catalog,
        gate,
        keys,
        objects,
        references,
        variants,
        annotation,
        settings.home / "work",
        second_signer=settings.report_second_signer,
        secondary_genes=settings.secondary_findings_genes,
    )
    directory = DirectoryService(catalog, gate, vault)
    htsget = HtsgetService(catalog, gate, objects)
    tokens = TokenService(
        catalog,
        gate,
        keys,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        principal=directory.principal,
        oidc_issuers=settings.oidc_issuers,
        visa_issuers=settings.passport_visa_issuers,
        home=settings.home,
    )
    return Platform(
        settings=settings,
        catalog=catalog,
        keys=keys,
        gate=gate,
        directory=directory,
        persons=PersonService(gate, vault),
        consent=ConsentService(gate, vault),
        requisitions=RequisitionService(catalog, gate, vault),
        samples=SampleService(gate, vault, objects),
        research=ResearchService(gate, pseudonym_key),
        audit=AuditService(gate, audit_log, vault),
        objects=objects,
        indications=IndicationService(catalog, gate),
        references=references,
        pipeline=PipelineService(
            catalog,
            gate,
            objects,
            references,
            htsget,
            settings.home / "work",
            thresholds,
            default_cores=settings.pipeline_cores,
            slurm_options={
                "partition": settings.slurm_partition,
                "account": settings.slurm_account,
                "max_jobs": settings.slurm_max_jobs,
                "status_command": settings.slurm_status_command,
            },
        ),
        variants=variants,
        annotation=annotation,
        cases=case_service,
        tokens=tokens,
        beacon=BeaconService(
            catalog,
            gate,
            variants,
            references,
            settings.home / "beacon",
            environment="prod" if settings.environment.value == "production" else "dev",
        ),
        htsget=htsget,
    )


def _store_factory(settings: Settings) -> Callable[[Crypt4ghKeyring], Crypt4ghStore]:
    def build(keyring: Crypt4ghKeyring) -> Crypt4ghStore:
        inner = create_store(
            settings.resolved_object_store_url,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            region=settings.s3_region,
        )
        return Crypt4ghStore(inner, keyring)

    return build
