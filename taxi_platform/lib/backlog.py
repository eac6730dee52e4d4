"""Which published months still need landing, found with few requests.

Within a dataset the TLC publishes months in order, so the published months are a prefix of
the partition keys: the newest published month is found by a binary search (about log2 of
the months, ~10 requests for the whole archive), and afterwards by one request per poll (the
month after the newest one known).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def newest_published(
    keys: Sequence[str], published: Callable[[str], bool], known: str | None
) -> str | None:
    """The newest of `keys` the source has published; `known` was published before."""
    low = keys.index(known) if known in keys else -1
    if low + 1 >= len(keys) or not published(keys[low + 1]):
        return known if low >= 0 else None
    low, high = low + 1, len(keys) - 1  # keys[low] is published; find the last one that is
    while low < high:
        middle = (low + high + 1) // 2
        if published(keys[middle]):
            low = middle
        else:
            high = middle - 1
    return keys[low]
