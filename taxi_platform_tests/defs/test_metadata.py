import dagster as dg

from taxi_platform.defs.metadata import rejection_sample, without_empty_entries
from taxi_platform.lib.lake import Rejection


def test_empty_entries_are_not_shown() -> None:
    shown = without_empty_entries(
        {"rows": 0, "unchanged": False, "etag": "", "rejected_sample": None}
    )
    assert shown == {"rows": 0, "unchanged": False}


def test_a_rejection_sample_is_a_table_or_nothing() -> None:
    assert rejection_sample([]) is None
    sample = rejection_sample([Rejection(line=7, column="fare_amount", value="x", reason="r")])
    assert isinstance(sample, dg.MarkdownMetadataValue)
    assert "| 7 | fare_amount | x | r |" in sample.md_str
