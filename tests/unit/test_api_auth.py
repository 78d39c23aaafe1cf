"""Who may ask ``provgraph serve``: the access policy and the token file, without a server."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest

from provenance_graph.api import Access, access_for, is_loopback, read_token_file
from provenance_graph.cli.serve import _check_free
from provenance_graph.errors import ConfigurationError


def _one_line(err: pytest.ExceptionInfo[ConfigurationError]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.5", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("graph.example.org", False)],
)  # fmt: skip
def test_only_loopback_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_without_a_token_lets_everyone_in_and_beyond_it_no_one_unauthenticated() -> None:
    assert access_for("127.0.0.1", "neo4j", "pw", None).admits(None)
    beyond = access_for("0.0.0.0", "neo4j", "pw", None)
    assert beyond.required and not beyond.admits(None)
    assert beyond.schemes == ['Basic realm="provgraph"']
    assert access_for("127.0.0.1", "neo4j", "pw", "tok").required  # a token asks loopback too


def test_beyond_loopback_with_no_way_to_authenticate_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigurationError) as err:
        access_for("0.0.0.0", "neo4j", "", None)
    assert "--token-file" in _one_line(err) and "127.0.0.1" in str(err.value)
    assert access_for("0.0.0.0", "neo4j", "", "tok").admits("Bearer tok")


def test_basic_and_bearer_credentials_are_checked() -> None:
    access = Access(required=True, user="neo4j", password="pw", token="tok")

    def basic(text: str) -> str:
        return "Basic " + base64.b64encode(text.encode()).decode()

    assert access.admits(basic("neo4j:pw")) and access.admits("Bearer tok") and access.admits("bearer  tok")
    for refused in (
        basic("neo4j:px"),
        basic("other:pw"),
        basic("neo4j"),
        "Basic !!!",
        "Bearer to",
        "tok",
        "",
    ):
        assert not access.admits(refused), refused
    assert not Access(required=True, user="neo4j").admits(basic("neo4j:"))  # an empty password is no password


def test_a_token_file_must_be_private_regular_and_hold_one_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("abc123\n")
    path.chmod(0o600)
    assert read_token_file(path) == "abc123"
    path.chmod(0o640)
    with pytest.raises(ConfigurationError) as err:
        read_token_file(path)
    assert f"chmod 600 {path}" in _one_line(err) and "0640" in str(err.value)
    path.chmod(0o600)
    for text in ("", "two words\n"):
        path.write_text(text)
        with pytest.raises(ConfigurationError) as err:
            read_token_file(path)
        assert str(path) in _one_line(err)
    for other in (tmp_path / "missing", tmp_path):
        with pytest.raises(ConfigurationError) as err:
            read_token_file(other)
        assert str(other) in _one_line(err)


def test_a_port_in_use_is_refused_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{port}"):
            _check_free("127.0.0.1", port)
