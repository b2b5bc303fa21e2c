"""Just enough of a mail server for tests whose emails leave a real process over SMTP: it counts
what it accepts by each message's Message-ID and recipient, so "sent once" means one email
accepted, not one row marked."""

from __future__ import annotations

import contextlib
import email
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator


class MailServer(socketserver.ThreadingTCPServer):
    """Just enough SMTP for Django's backend. Counts each message it accepts by (Message-ID,
    recipient). Given ``hang_at = n``, it stops answering at the n-th message it receives, as
    when the network or the mail server goes away: with ``hang = "before_accept"`` before
    accepting it; with ``"before_reply"`` after accepting it but before telling the client so;
    with ``"after_reply"`` once the client knows (it then waits on its next command)."""

    daemon_threads = True
    allow_reuse_address = True

    hang_at: int | None = None
    hang = "before_accept"
    # Seconds spent on each message before accepting it, as a real relay takes some.
    delay = 0.0

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), SMTPSession)
        self.accepted: Counter[tuple[str, str]] = Counter()
        self.hanging, self.release = threading.Event(), threading.Event()
        self._received = 0
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def receive(self, data: bytes, reply: Callable[[str], None]) -> bool:
        """Accept one message (or hang); False ends the session."""
        with self._lock:
            self._received += 1
            hang = self._received == self.hang_at
        if self.delay:
            time.sleep(self.delay)
        if hang and self.hang == "before_accept":
            self._hang()
            return False
        message = email.message_from_bytes(data)
        with self._lock:
            self.accepted[(message["Message-ID"], message["To"])] += 1
        if hang and self.hang == "before_reply":
            self._hang()
            return False
        reply("250 OK: queued")
        if hang:
            self._hang()
            return False
        return True

    def _hang(self) -> None:
        self.hanging.set()
        self.release.wait()


class SMTPSession(socketserver.StreamRequestHandler):
    server: MailServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 localhost test mail server")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-localhost\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                if not self.server.receive(self.read_data(), self.reply):
                    return
            elif verb == b"QUIT":
                self.reply("221 Bye")
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                self.reply("250 OK")

    def read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


@contextlib.contextmanager
def running_mail_server(host: str = "127.0.0.1") -> Iterator[MailServer]:
    """A mail server on a free port of ``host``, answering from a thread until the block ends."""
    server = MailServer(host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
