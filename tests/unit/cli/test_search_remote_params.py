"""``clipvec search --service``: the photo filters and sort travel in the query string as the service reads them."""

from __future__ import annotations

from clipvec.cli.search_remote import query_params
from clipvec.search.options import SearchFilters, SearchOptions


def test_filters_and_sort_are_sent_and_read_back_the_same():
    filters = SearchFilters.from_query(
        {
            "camera": 'a "b" %_',
            "taken_after": "2024-05-01T18:30+02:00",
            "near": "-16.5,179.9,12",
            "format": "jpg",
        }
    )
    options = SearchOptions.checked(5, 0.2, "trips/", filters=filters, sort="taken")
    params = query_params(options)
    assert params["sort"] == "taken" and params["camera"] == 'a "b" %_' and params["format"] == "JPEG"
    assert SearchOptions.from_query(params, 10) == options


def test_no_filter_sends_only_what_it_did():
    assert query_params(SearchOptions.checked(5)) == {"top_k": "5"}
