"""What one import run did: counts, per-file failures and skips, and where the time went."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FileFailure:
    path: str
    reason: str
    detail: str


@dataclass
class ImportReport:
    """What one run did; ``failed`` (new failures only) decides the exit code."""

    imported: int = 0  # newly encoded contents
    reused: int = 0  # new paths whose content was already stored (renames, copies)
    unchanged: int = 0
    relocated: int = 0  # names stored before issue 22 (relative to another folder) moved to this root
    failed: list[FileFailure] = field(default_factory=list)
    # failed in an earlier run and unchanged since (the skip memory): reported, not failing again
    known_broken: list[FileFailure] = field(default_factory=list)
    # not imported, with the reason: not images (by content), too large, empty, FIFOs, links
    skipped_files: list[FileFailure] = field(default_factory=list)
    pruned: int = 0
    gone: int = 0  # paths of this source in the collection whose files are gone (kept without --prune)
    model_loaded: bool = False
    files_read: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: Counter())

    @property
    def skipped(self) -> int:
        return len(self.skipped_files)

    def summary(self) -> str:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        reasons = Counter(f.reason for f in self.skipped_files)
        why = " (" + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) + ")" if reasons else ""
        return (
            f"imported {self.imported}, reused {self.reused}, unchanged {self.unchanged}, "
            f"skipped {self.skipped}{why}, failed {len(self.failed)}, pruned {self.pruned}"
            + (f" ({stages})" if stages else "")
        )
