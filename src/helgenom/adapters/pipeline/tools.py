"""Running the pipeline's tools: pysam's samtools and bcftools, versions, failures.

Every tool call of a step goes through a :class:`ToolRunner`, which

* runs the command in-process through pysam (htslib, samtools and bcftools are
  inside the pysam wheel; no binaries needed),
* records the call (tool, version, arguments with paths made relative to the run
  folder and input files replaced by labels) for the step's provenance,
* appends the tool's stderr to the step's log, and
* turns a failure (:class:`pysam.utils.SamtoolsError`) into a
  :class:`StepFailedError` naming the step, the tool, the exit code and the last
  lines of stderr.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pysam.bcftools
import pysam.samtools
import pysam.utils
from pysam.version import __bcftools_version__ as BCFTOOLS_VERSION
from pysam.version import __htslib_version__ as HTSLIB_VERSION
from pysam.version import __samtools_version__ as SAMTOOLS_VERSION
from pysam.version import __version__ as PYSAM_VERSION

from helgenom.core.errors import ToolFailedError, ToolNotFoundError
from helgenom.core.version import __version__

STDERR_TAIL_LINES = 15
"""Lines of a tool's stderr kept in an error."""
_PARTIAL = re.compile(r"(^|/)\.partial\.")
"""The prefix of files written aside (recorded under their final names)."""
_PYSAM_ERROR = re.compile(
    r"^(?P<tool>\S+) returned with error (?P<code>-?\d+): "
    r"stdout=(?P<stdout>.*), stderr=(?P<stderr>.*)$",
    re.DOTALL,
)


class StepFailedError(ToolFailedError):
    """A tool of a pipeline step failed; says which step, which tool, how and why."""

    def __init__(self, step: str, tool: str, exit_code: int | None, stderr_tail: str) -> None:
        self.step = step
        """The pipeline step (Snakemake rule), e.g. ``cram``."""
        self.tool = tool
        """The command, e.g. ``samtools view``."""
        self.exit_code = exit_code
        """The tool's exit code (None when the tool raised instead of exiting)."""
        self.stderr_tail = stderr_tail
        """The last lines of the tool's error output."""
        code = "" if exit_code is None else f" with exit code {exit_code}"
        detail = f": {stderr_tail}" if stderr_tail else ""
        super().__init__(f"pipeline step {step} failed: {tool} exited{code}{detail}")

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready record of the failure."""
        return {
            "step": self.step,
            "tool": self.tool,
            "exit_code": self.exit_code,
            "stderr_tail": self.stderr_tail,
        }


def tail(text: str | bytes | None, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of ``text``."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def tool_failure(
    step: str, tool: str, error: BaseException | None, detail: str = ""
) -> StepFailedError:
    """A :class:`StepFailedError` from a pysam ``SamtoolsError`` (or another exception)."""
    if isinstance(error, pysam.utils.SamtoolsError):
        match = _PYSAM_ERROR.match(str(error.value))
        if match:
            return StepFailedError(
                step, tool, int(match["code"]), tail(match["stderr"]) or tail(match["stdout"])
            )
        return StepFailedError(step, tool, None, tail(str(error.value)))
    if error is not None:
        message = f"{type(error).__name__}: {error}"
        return StepFailedError(
            step, tool, None, tail(f"{detail}\n{message}" if detail else message)
        )
    return StepFailedError(step, tool, None, tail(detail))


def software_versions() -> dict[str, str]:
    """Versions of everything the pipeline runs with (for provenance)."""
    import mappy  # type: ignore[import-not-found,unused-ignore]

    try:
        snakemake_version = importlib.metadata.version("snakemake")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        snakemake_version = "absent"
    return {
        "helgenom": __version__,
        "python": platform.python_version(),
        "snakemake": snakemake_version,
        "pysam": PYSAM_VERSION,
        "htslib": HTSLIB_VERSION,
        "samtools": SAMTOOLS_VERSION,
        "bcftools": BCFTOOLS_VERSION,
        "mappy": str(mappy.__version__),
    }


def require_executable(name: str, step: str) -> Path:
    """The path of an external program, for callers that run one.

    Raises
    ------
    ToolNotFoundError
        ``name`` is not on ``PATH``.
    """
    found = shutil.which(name)
    if found is None:
        raise ToolNotFoundError(
            f"pipeline step {step} needs the program {name}, which is not on PATH: install it "
            "on every node that runs the pipeline, or choose another caller"
        )
    return Path(found)


@dataclass
class ToolRunner:
    """Runs and records the tool calls of one step (see module doc)."""

    step: str
    """The step name, for errors and provenance."""
    workdir: Path
    """The run folder; paths inside it are recorded relative to it."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Absolute path -> label (``{reference}``, ``{r1}``) used in recorded arguments."""
    log_path: Path | None = None
    """Where the tools' stderr is appended."""
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Recorded calls: ``{"tool", "version", "args"}``."""

    def _clean(self, arg: str | Path | int) -> str:
        text = str(arg)
        for path, label in self.labels.items():
            text = text.replace(path, label)
        root = str(self.workdir.resolve())
        if text.startswith(root + "/"):
            text = text[len(root) + 1 :]
        return _PARTIAL.sub(r"\1", text)

    def record(self, tool: str, version: str, args: Sequence[str | Path | int]) -> None:
        """Record a call made outside this runner (e.g. mappy)."""
        self.calls.append(
            {"tool": tool, "version": version, "args": [self._clean(a) for a in args]}
        )

    def log(self, text: str) -> None:
        """Append ``text`` to the step's log."""
        if self.log_path is not None and text:
            with self.log_path.open("a", encoding="utf-8") as out:
                out.write(text if text.endswith("\n") else text + "\n")

    def _log_size(self) -> int:
        if self.log_path is None or not self.log_path.exists():
            return 0
        return self.log_path.stat().st_size

    def _log_since(self, offset: int) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")

    def samtools(self, command: str, *args: str | Path | int, capture: bool = False) -> str:
        """Run ``samtools COMMAND ARGS``; returns stdout when ``capture``."""
        return self._run("samtools", pysam.samtools, command, args, capture)

    def bcftools(self, command: str, *args: str | Path | int, capture: bool = False) -> str:
        """Run ``bcftools COMMAND ARGS``; returns stdout when ``capture``."""
        return self._run("bcftools", pysam.bcftools, command, args, capture)

    def _run(
        self,
        tool: str,
        module: Any,
        command: str,
        args: Sequence[str | Path | int],
        capture: bool,
    ) -> str:
        name = f"{tool} {command}"
        version = SAMTOOLS_VERSION if tool == "samtools" else BCFTOOLS_VERSION
        text_args = [str(a) for a in args]
        self.record(name, version, text_args)
        self.log(f"$ {name} {' '.join(self._clean(a) for a in text_args)}")
        dispatcher = getattr(module, command, None)
        if dispatcher is None:  # pragma: no cover - a programming error
            raise ToolNotFoundError(f"pysam has no {name}")
        offset = self._log_size()
        try:
            output = dispatcher(*text_args, catch_stdout=capture)
        except pysam.utils.SamtoolsError as exc:
            failure = tool_failure(self.step, name, exc)
            # htslib also writes straight to file descriptor 2, which run_step points
            # at the log: those lines usually say why.
            stray = self._log_since(offset)
            self.log(failure.stderr_tail)
            if stray:
                failure = StepFailedError(
                    self.step, name, failure.exit_code, tail(f"{stray}\n{failure.stderr_tail}")
                )
            raise failure from exc
        self.log(tail(getattr(dispatcher, "stderr", ""), 200))
        if not capture:
            return ""
        if isinstance(output, bytes):
            return output.decode("utf-8", errors="replace")
        return "" if output is None else str(output)


__all__ = [
    "StepFailedError",
    "ToolRunner",
    "require_executable",
    "software_versions",
    "tail",
    "tool_failure",
]
