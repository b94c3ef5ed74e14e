"""The sandbox's status-callback client (messaging/sandbox/poster.py) against scripted HTTP peers:
the request it writes, the answers it can read, when it keeps a connection and when it must not."""

from __future__ import annotations

import asyncio
import base64

import pytest

from messaging.sandbox.poster import BadAnswer, CallbackPoster

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class Peer:
    """A loopback server answering each request with the next scripted bytes (None: close without
    answering); records each request's raw bytes and which connection it came on."""

    def __init__(self, answers: list[bytes | None], close_after: bool = False) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.requests: list[tuple[int, bytes]] = []
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                body = await reader.readexactly(length)
                self.requests.append((number, head + body))
                answer = self.answers.pop(0)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def _serve(peer: Peer):
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    return server


def _run(peer: Peer, posts, timeout_s: float = 2.0):
    """Runs posts(poster, base_url) -> results against the peer; returns (results, poster)."""

    async def main():
        server = await _serve(peer)
        poster = CallbackPoster(timeout_s=timeout_s)
        try:
            return await posts(poster, f"http://127.0.0.1:{peer.port}"), poster
        finally:
            poster.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


async def _post(poster: CallbackPoster, url: str, body: bytes = b"MessageStatus=sent") -> int | BaseException:
    try:
        return await poster.post(url, body, {"X-Twilio-Signature": "c2ln"})
    except Exception as exc:
        return exc


def test_the_request_is_a_form_post_with_its_hint_and_signature():
    peer = Peer([OK])

    async def posts(poster, base):
        return [await _post(poster, f"{base}/webhooks/twilio/status/?m=42#rc=2", b"MessageSid=SM1&MessageStatus=sent")]

    results, _ = _run(peer, posts)
    assert results == [200]
    [(_, raw)] = peer.requests
    head, body = raw.split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /webhooks/twilio/status/?m=42 HTTP/1.1"  # the hint kept, the fragment never sent
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Host"] == f"127.0.0.1:{peer.port}"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Content-Length"] == str(len(body))
    assert headers["X-Twilio-Signature"] == "c2ln"
    assert body == b"MessageSid=SM1&MessageStatus=sent"


def test_a_kept_alive_connection_is_reused_for_the_next_callbacks():
    peer = Peer([OK, b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<ok/>"])

    async def posts(poster, base):
        return [await _post(poster, f"{base}/cb?m={i}") for i in range(3)]

    results, poster = _run(peer, posts)
    assert results == [200, 204, 200]
    assert [number for number, _ in peer.requests] == [1, 1, 1]
    assert poster.connections_opened == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",  # HTTP/1.0: closed unless asked otherwise
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nread to the close",  # no length: the close ends the body
    ],
)
def test_an_answer_that_closes_gets_a_new_connection_next_time(answer):
    peer = Peer([answer, answer], close_after=True)

    async def posts(poster, base):
        return [await _post(poster, f"{base}/cb"), await _post(poster, f"{base}/cb")]

    results, poster = _run(peer, posts)
    assert results == [200, 200]
    assert [number for number, _ in peer.requests] == [1, 2]
    assert poster.connections_opened == 2


def test_a_chunked_answer_with_trailers_is_read_and_the_connection_kept():
    chunked = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfail\r\n3;x=y\r\ned!\r\n0\r\nX-T: 1\r\n\r\n"
    peer = Peer([chunked, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", OK])

    async def posts(poster, base):
        return [await _post(poster, f"{base}/cb") for _ in range(3)]

    results, poster = _run(peer, posts)
    assert results == [500, 200, 200]
    assert poster.connections_opened == 1


def test_a_peer_that_closes_without_answering_is_a_failure_not_a_resend():
    peer = Peer([None, OK])

    async def posts(poster, base):
        return [await _post(poster, f"{base}/cb"), await _post(poster, f"{base}/cb")]

    results, _ = _run(peer, posts)
    assert isinstance(results[0], ConnectionError)
    assert results[1] == 200
    assert len(peer.requests) == 2  # the first was not sent again


def test_garbage_is_a_bad_answer_and_a_silent_peer_times_out():
    peer = Peer([b"SSH-2.0-OpenSSH\r\n\r\n"])

    async def posts(poster, base):
        return [await _post(poster, f"{base}/cb")]

    [result], _ = _run(peer, posts)
    assert isinstance(result, BadAnswer)

    async def silent(poster, base):
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return [await _post(poster, f"http://127.0.0.1:{port}/cb")]
        finally:
            server.close()

    [result], _ = _run(Peer([]), silent, timeout_s=0.2)
    assert isinstance(result, TimeoutError)


def test_credentials_in_the_url_become_basic_auth_and_a_non_ascii_path_is_encoded():
    peer = Peer([OK])

    async def posts(poster, base):
        url = base.replace("http://", "http://fan%40team:s3cret@") + "/stätus/?m=7"
        return [await _post(poster, url)]

    results, _ = _run(peer, posts)
    assert results == [200]
    head = peer.requests[0][1].split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /st%C3%A4tus/?m=7 HTTP/1.1\r\n")
    assert f"Authorization: Basic {base64.b64encode(b'fan@team:s3cret').decode()}" in head
    assert f"Host: 127.0.0.1:{peer.port}\r\n" in head  # never the credentials


def test_a_url_that_is_not_http_is_refused():
    async def posts(poster, base):
        return [await _post(poster, "ftp://example.com/cb"), await _post(poster, "not a url")]

    results, _ = _run(Peer([]), posts)
    assert all(isinstance(result, ValueError) for result in results)
