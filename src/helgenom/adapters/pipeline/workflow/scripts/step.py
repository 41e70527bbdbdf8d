"""Snakemake ``script:`` of every rule: runs the rule's helgenom step.

Snakemake prepends a preamble that defines the global ``snakemake`` (inputs,
outputs, threads and config of the job). All logic lives in
:mod:`helgenom.adapters.pipeline.steps`.
"""

from helgenom.adapters.pipeline.steps import run_step

run_step(globals()["snakemake"])
