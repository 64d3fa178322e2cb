"""The import report: its one-line summary (printed by ``clipvec import``) and its counters."""

from __future__ import annotations

from clipvec.indexing.report import FileFailure, ImportReport


def test_an_empty_run_says_zero_everywhere_and_no_timings():
    assert ImportReport().summary() == "imported 0, reused 0, unchanged 0, skipped 0, failed 0, pruned 0"


def test_summary_counts_skip_reasons_sorted_and_stage_times_in_order():
    report = ImportReport(imported=3, reused=2, unchanged=7, pruned=1)
    report.skipped_files += [
        FileFailure("a.mp4", "too_large", "3 GB"),
        FileFailure("b.txt", "not_image", "content is not an image"),
        FileFailure("c.mov", "too_large", "2 GB"),
    ]
    report.failed.append(FileFailure("d.png", "truncated_image", "cut short"))
    report.seconds["plan"] += 0.04
    report.seconds["encode"] += 1.26
    report.seconds["total"] += 12.0
    assert report.summary() == (
        "imported 3, reused 2, unchanged 7, skipped 3 (1 not_image, 2 too_large), failed 1, pruned 1"
        " (plan 0.0s, encode 1.3s, total 12.0s)"
    )
    assert report.skipped == 3


def test_stage_times_accumulate_from_zero():
    """Every stage adds its seconds with ``+=``, whether or not it ran before."""
    report = ImportReport()
    report.seconds["decode"] += 0.5
    report.seconds["decode"] += 0.25
    assert report.seconds == {"decode": 0.75}
    assert ImportReport().seconds == {}  # reports share no counters
