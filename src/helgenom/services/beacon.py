"""The Beacon v2 service: g_variants answers from the consented public allele-frequency set.

Who asks decides the audience (:class:`helgenom.core.beacon.Audience`): no token is
anonymous (yes/no; rare alleles answered as absent, so no person's data is read beyond
the aggregate), any authenticated principal is registered (counts; a rare allele is
shown only while its carriers' risk budgets last), and a researcher acting for an
approved project they belong to is controlled (records with AC/AN/AF). The per-user
query budget and the per-person risk budget live in a ledger under ``HOME/beacon``,
updated under a file lock and replaced atomically. Authenticated queries are audited
(``variant.query``, resource ``beacon``), naming the carriers whose rare allele an answer
considered, so a citizen's access log shows it; anonymous queries read aggregates only
and are not audited per person. A spent query budget is refused before any data is read
(:class:`~helgenom.core.errors.QuotaExceededError`, HTTP 429 with ``Retry-After``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from helgenom.adapters.catalog import Catalog
from helgenom.core import beacon as bc
from helgenom.core.access import Action, decide_access
from helgenom.core.models import RequestContext
from helgenom.services.gate import Gate, project_facts
from helgenom.services.references import ReferenceService
from helgenom.services.variants import VariantService

LEDGER_NAME = "ledger.json"


class BeaconService:
    """Beacon v2 framework documents and g_variants queries (see module doc)."""

    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        variants: VariantService,
        references: ReferenceService,
        folder: Path,
        *,
        beacon_id: str = "org.helgenom.beacon",
        name: str = "helgenom national genome beacon",
        organisation: str = "helgenom",
        environment: str = "dev",
        policy: bc.DisclosurePolicy | None = None,
    ) -> None:
        self.catalog = catalog
        self.gate = gate
        self.variants = variants
        self.references = references
        self.folder = folder
        """Where the budget ledger is kept (``HOME/beacon``)."""
        self.beacon_id = beacon_id
        self.name = name
        self.organisation = organisation
        self.environment = environment
        self.policy = policy or bc.DisclosurePolicy()

    # -- documents --------------------------------------------------------------------------

    def _contigs(self) -> tuple[str, ...]:
        names: list[str] = []
        for record in self.references.list_references():
            for contig_name, _length, _md5 in record.contigs:
                if contig_name not in names:
                    names.append(contig_name)
        return tuple(names)

    def info(self, base_url: str) -> bc.BeaconInfo:
        """This beacon's description."""
        return bc.BeaconInfo(
            beacon_id=self.beacon_id,
            name=self.name,
            organization=bc.BeaconOrganization(self.organisation, self.organisation),
            base_url=base_url.rstrip("/"),
            contigs=self._contigs(),
            environment=self.environment,
        )

    def document(self, name: str, base_url: str) -> dict[str, Any]:
        """A framework document: ``info``, ``configuration``, ``map``, ``entry_types`` or
        ``filtering_terms``."""
        builders = {
            "info": bc.info_response,
            "configuration": bc.configuration_response,
            "map": bc.map_response,
            "entry_types": bc.entry_types_response,
            "filtering_terms": bc.filtering_terms_response,
        }
        return builders[name](self.info(base_url))

    def error(self, base_url: str, status: int, message: str) -> dict[str, Any]:
        """A framework error response."""
        return bc.error_response(self.info(base_url), status, message)

    # -- the ledger -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _ledger(self) -> Iterator[bc.BudgetLedger]:
        """The ledger, locked; written back atomically when the block succeeds."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            path = self.folder / LEDGER_NAME
            if path.is_file():
                ledger = bc.BudgetLedger.from_dict(
                    json.loads(path.read_text(encoding="utf-8")), self.policy
                )
            else:
                ledger = bc.BudgetLedger(self.policy)
            yield ledger
            handle, tmp = tempfile.mkstemp(dir=self.folder, prefix=".ledger-")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(ledger.asdict(), out)
            os.replace(tmp, path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- queries ----------------------------------------------------------------------------

    def audience(self, ctx: RequestContext | None) -> bc.Audience:
        """Anonymous, registered, or controlled (a member of an approved, current project)."""
        if ctx is None:
            return bc.Audience.ANONYMOUS
        if ctx.project:
            with self.catalog.begin() as conn:
                facts = project_facts(conn, ctx.project)
            # the policy's own project rule: a member of an approved, unexpired project
            if decide_access(ctx, Action.RESEARCH_COHORT, project=facts).allowed:
                return bc.Audience.CONTROLLED
        return bc.Audience.REGISTERED

    def g_variants(
        self,
        ctx: RequestContext | None,
        *,
        base_url: str,
        client: str,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Answer a g_variants query (GET ``params`` or POST ``body``).

        Raises
        ------
        InvalidInputError
            A query the beacon cannot answer (the message names the parameter).
        QuotaExceededError
            The asker's own query budget is spent (``retry_after`` seconds until the
            next query; HTTP 429). A carrier's spent person budget is no error: the
            answer leaves them out, so it never tells which person was protected.
        PermissionDeniedError
            An authenticated role that may not query aggregates.
        """
        info = self.info(base_url)
        if body is not None:
            query = bc.parse_post_query(body, contigs=info.contigs, assembly=info.assembly)
        else:
            query = bc.parse_get_query(params or {}, contigs=info.contigs, assembly=info.assembly)
        audience = self.audience(ctx)
        user = ctx.actor.name if ctx is not None else f"anonymous:{client}"
        if ctx is not None:
            self.gate.authorise(ctx, Action.VARIANT_QUERY, resource="beacon")
        considered: set[str] = set()
        # The ledger is locked twice, briefly: to charge the query before any data is
        # read, and to spend person budgets on what is disclosed; the database is read
        # in between without it, so concurrent queries (threads or server processes)
        # only queue for the budget bookkeeping.
        with self._ledger() as ledger:
            ledger.charge_query(user)
        with self.catalog.begin() as conn:
            if query.variant_id is not None:
                rows, counted, commit = self.variants.public_rows(
                    conn, variant_ids=[query.variant_id]
                )
            else:
                rows, counted, commit = self.variants.public_rows(conn, region=query.region)
        observations = []
        for row in rows:
            if not query.matches(str(row["variant_id"])):
                continue
            carriers: dict[str, int] = {}
            if bc.needs_carriers(row, self.policy) and audience not in self.policy.conceal_rare_for:
                carriers = self.variants.public_carriers(commit, str(row["variant_id"]), counted)
                considered.update(carriers)
            observations.append(bc.AlleleObservation.from_row(row, carriers))
        with self._ledger() as ledger:
            disclosed = [
                bc.disclose_allele(
                    observation, audience=audience, user=user, policy=self.policy, ledger=ledger
                )
                for observation in observations
            ]
        response = bc.g_variants_response(
            query,
            disclosed,
            beacon=info,
            audience=audience,
            policy=self.policy,
            source_version="" if commit is None else f"commit {commit.seq}",
        )
        if ctx is not None:
            with self.gate.access(ctx, Action.VARIANT_QUERY, resource="beacon") as grant:
                grant.subjects.update(considered)
                grant.note = (
                    f"beacon g_variants ({audience.value}): {len(disclosed)} matching variant(s), "
                    f"{len(considered)} carrier(s) of rare alleles considered"
                )
        return response


__all__ = ["LEDGER_NAME", "BeaconService"]
