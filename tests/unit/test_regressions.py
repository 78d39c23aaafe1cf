"""`compare_stats`: which groups regressed, by the documented rule (docs/operations.md)."""

from provenance_graph.store.analytics import GroupStats, RuntimeStats, compare_stats


def _group(task: str, p50: float, memory: float | None = 500.0) -> GroupStats:
    return GroupStats((task,), 10, p50, p50, p50, memory, memory, memory, 10 * p50, 10 * p50, 0)


def _stats(*groups: GroupStats) -> RuntimeStats:
    return RuntimeStats("p", None, ("task",), ("succeeded",), list(groups))


def test_a_regression_needs_the_ratio_and_the_absolute_increase() -> None:
    this = _stats(
        _group("slower", 30.0), _group("noise", 0.02), _group("same", 10.0), _group("fatter", 5, 900)
    )
    other = _stats(
        _group("slower", 20.0), _group("noise", 0.01), _group("same", 9.0), _group("fatter", 5, 500)
    )
    found = {c.key[0]: c for c in compare_stats(this, other)}
    assert found["slower"].regressed == ("duration",)  # 1.5x and 10 s more
    assert found["noise"].regressed == ()  # 2x, but 10 ms more (under --min-seconds 1)
    assert found["same"].regressed == ()  # 1.11x, under --threshold 1.2
    assert found["fatter"].regressed == ("memory",)  # 1.8x and 400 MB more
    assert found["slower"].duration_ratio == 1.5
    loose = {c.key[0]: c for c in compare_stats(this, other, threshold=1.1, min_seconds=0.005)}
    assert loose["noise"].regressed == ("duration",) and loose["same"].regressed == ("duration",)


def test_groups_on_one_side_only_are_listed_without_ratios() -> None:
    found = compare_stats(_stats(_group("new", 1.0)), _stats(_group("gone", 1.0)))
    assert [(c.key, c.this is not None, c.other is not None, c.duration_ratio) for c in found] == [
        (("gone",), False, True, None),
        (("new",), True, False, None),
    ]


def test_no_memory_recorded_is_no_memory_regression() -> None:
    found = compare_stats(_stats(_group("t", 1.0, None)), _stats(_group("t", 1.0, 100.0)))
    assert found[0].memory_ratio is None and found[0].regressed == ()
