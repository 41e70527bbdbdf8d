"""Clinical annotation of variants: consequences, external sources, gene panels, phenotypes.

* :mod:`.consequence`: per-transcript consequences with ``bcftools csq`` (through pysam),
  SO terms, Ensembl impact ranks, ``c.``/``p.`` notation.
* :mod:`.sources`: versioned Parquet copies of ClinVar and population-frequency VCFs, queried
  with DuckDB.
* :mod:`.panels`: PanelApp-style gene panels.
* :mod:`.phenotype`: HPO-based gene ranking (hpo3, imported as ``pyhpo``).
"""
