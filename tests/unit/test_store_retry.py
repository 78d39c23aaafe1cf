"""While no server answers, a transaction is retried for the retry window, each wait logged."""

from __future__ import annotations

import logging
import time

import pytest
from pydantic import SecretStr

from provenance_graph.errors import DatabaseUnavailableError
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from provenance_graph.store.connection import MAX_WAIT
from tests.support.servers import free_port


def _store(retry_seconds: float) -> GraphStore:
    uri = f"neo4j://127.0.0.1:{free_port()}"  # nothing listens there
    return GraphStore(ConnectionSettings(uri=uri, password=SecretStr("pw"), retry_seconds=retry_seconds))


def _waits(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "provenance_graph.store.connection"]


def test_a_transaction_waits_out_its_window_in_short_steps_then_says_no_server_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="provenance_graph.store.connection")
    with _store(3.0) as store:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError, match="no Neo4j server answers at neo4j://127.0.0.1:"):
            store.read("plan_list", include_incomplete=True)
        waited = time.monotonic() - started
    assert 3.0 <= waited < 3.0 + MAX_WAIT + 2
    waits = _waits(caplog)
    assert len(waits) >= 3, waits  # 0.5, 1, 2, ... s: never one long sleep
    assert all("query plan_list failed (ServiceUnavailable" in w for w in waits), waits


def test_an_outage_shares_one_window_and_a_zero_window_never_waits(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="provenance_graph.store.connection")
    with _store(0.0) as store, pytest.raises(DatabaseUnavailableError):
        store.write("plan_list", include_incomplete=True)
    assert _waits(caplog) == []
    with _store(2.0) as store:
        with pytest.raises(DatabaseUnavailableError):
            store.read("plan_list", include_incomplete=True)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError):  # the same outage: its window is spent
            store.autocommit("plan_list", include_incomplete=True)
        assert time.monotonic() - started < 1.0


def test_the_driver_still_has_the_cancellation_clean_up_ctrl_c_relies_on() -> None:
    """`connection._abandon` drops a connection Ctrl-C cut into with the driver's own clean-up."""
    import inspect

    import neo4j

    cancel = getattr(neo4j.Session, "_handle_cancellation", None)
    assert cancel is not None, "the neo4j driver lost Session._handle_cancellation: see store/connection.py"
    assert "message" in inspect.signature(cancel).parameters
