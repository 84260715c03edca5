"""Local stand-ins for where alerts go: a mail server, and webhooks (Slack's, or the CT trigger's).

Alertmanager delivers to them exactly as it would to the real ones (SMTP with a login, an HTTP
POST of JSON), so a test or a notebook can read what the team, or the retrain trigger, received.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import warnings
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from mlops_workbook.cm import stack_config


class MailSink:
    """An SMTP server on loopback that keeps every message; it accepts only the given login."""

    def __init__(self, port: int, username: str, password: str):
        self.messages: list[EmailMessage] = []
        self._login = (username.encode(), password.encode())
        # PLAIN only: Alertmanager's LOGIN expects other prompts than aiosmtpd's. No TLS on loopback
        # (Go's SMTP client sends a password in clear only to localhost).
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=port,
            authenticator=self._check,
            auth_require_tls=False,
            auth_required=True,
            auth_exclude_mechanism=["LOGIN"],
        )

    def _check(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        return AuthResult(success=(auth_data.login, auth_data.password) == self._login)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def start(self) -> MailSink:
        # A login without TLS is what this sink is for (loopback only): say so once, not on every connection.
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", module="aiosmtpd")
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def subjects(self, about: str = "") -> list[str]:
        """The subject of each message received, in order (those that mention `about`, if given)."""
        return [message["Subject"] for message in self.messages if about in message["Subject"]]

    def text(self, subject: str) -> str:
        """The plain-text body of the first message with this subject."""
        message = next(m for m in self.messages if m["Subject"] == subject)
        return message.get_body(("plain",)).get_content()


class WebhookSink:
    """An HTTP server on loopback that keeps every JSON body posted to it (Slack's webhook by default)."""

    def __init__(self, port: int, path: str = "/slack"):
        self.posts: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                sink.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # quiet: the posts are the record
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}{path}"

    def start(self) -> WebhookSink:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def titles(self, about: str = "") -> list[str]:
        """The title of each Slack attachment posted, in order (those that mention `about`, if given)."""
        titles = [attachment["title"] for post in self.posts for attachment in post.get("attachments", [])]
        return [title for title in titles if about in title]


def team_stand_ins(ports: stack_config.Ports) -> tuple[MailSink, WebhookSink, dict[str, str]]:
    """The team's mail server and Slack webhook on loopback, started, and the two secrets that reach them.

    The dict is what `stack.Monitoring.start()` reads from the environment: a made-up SMTP password that
    the mail server alone accepts, and the webhook's URL.
    """
    password = secrets.token_urlsafe(16)
    login = stack_config.shipped("alertmanager/alertmanager.yml")["global"]["smtp_auth_username"]
    mail = MailSink(ports.smtp, login, password).start()
    slack = WebhookSink(ports.webhook).start()
    return mail, slack, {"SMTP_PASSWORD": password, "SLACK_WEBHOOK_URL": slack.url}
