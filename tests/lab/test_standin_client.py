"""Host-free: the stand-ins' API client retries what client-go retries (a GET whose connection ended), nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lab.test_standin_timing import mod  # noqa: F401  (the stand-in import fixture)


class Flaky:
    """An Https that ends the connection under the first FAILS requests, then answers 200 {}."""

    def __init__(self, standin: Any, fails: int) -> None:
        self.standin, self.fails, self.sent = standin, fails, 0

    def send(self, method: str, path: str, body: Any = None, headers: Any = None) -> tuple[int, bytes, str]:
        self.sent += 1
        if self.sent <= self.fails:
            raise self.standin.ProbableEOF("EOF occurred in violation of protocol (_ssl.c:2393)")
        return 200, b"{}", "https://lab"


def client(standin: Any, fails: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    kube = standin.Kube.__new__(standin.Kube)
    kube.server, kube.token, kube.user_agent, kube.http = "https://lab", None, "kubeadm", Flaky(standin, fails)
    monkeypatch.setattr(standin.time, "sleep", lambda s: None)
    return kube


def test_a_get_whose_connection_ended_is_retried(mod: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    standin = mod("standin")
    kube = client(standin, 3, monkeypatch)
    assert kube.request("GET", "/api/v1/nodes/n1") == {} and kube.http.sent == 4


def test_past_ten_retries_the_get_fails(mod: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    standin = mod("standin")
    kube = client(standin, 11, monkeypatch)
    with pytest.raises(standin.Fail, match="EOF occurred"):
        kube.request("GET", "/api/v1/nodes/n1")
    assert kube.http.sent == 11


@pytest.mark.parametrize("verb", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_is_not_retried(mod: Any, verb: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    standin = mod("standin")
    kube = client(standin, 1, monkeypatch)
    with pytest.raises(standin.Fail):
        kube.request(verb, "/api/v1/nodes/n1", {})
    assert kube.http.sent == 1


class Broken:
    """An HTTPSConnection whose request fails with EXC."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def request(self, *args: Any, **kwargs: Any) -> None:
        raise self.exc

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("exc", "probable_eof"), [
    ("ssl.SSLEOFError(8, 'EOF occurred in violation of protocol')", True),
    ("http.client.IncompleteRead(b'')", True),
    ("ConnectionResetError(104, 'Connection reset by peer')", True),
    ("ConnectionRefusedError(111, 'Connection refused')", False),
    ("BrokenPipeError(32, 'Broken pipe')", False),
    ("TimeoutError('The read operation timed out')", False),
])
def test_which_failures_count_as_an_ended_connection(mod: Any, exc: str, probable_eof: bool,  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """apimachinery IsProbableEOF/IsConnectionReset: EOF and reset are; a refused connection or a timeout are not."""
    import http.client
    import ssl

    standin = mod("standin")
    https = standin.Https(["https://lab"], ctx=None)
    error = eval(exc, {"ssl": ssl, "http": http})
    monkeypatch.setattr(https, "_conn", lambda url: Broken(error))
    with pytest.raises(OSError) as raised:
        https.send("GET", "/api")
    assert isinstance(raised.value, standin.ProbableEOF) == probable_eof
