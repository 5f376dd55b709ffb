"""Local servers standing in for FCM (with its OAuth2 token endpoint), APNs and a Web Push service.

Each records every request it receives (before answering, so a request in
flight when a client dies is counted) and answers from a script: per device
token, a list of ``(status, json body, headers)`` consumed in order, then
200. ``delay`` makes every push request slow.
"""

import asyncio
import base64
import functools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.live import free_port

# google-auth signs for Google's endpoint whatever token_uri it posts to.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


class Script:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.answers = {}
        self.delay = 0.0

    def answer(self, token, *responses):
        """Queue answers for ``token``: each ``(status, body)`` or ``(status, body, headers)``."""
        with self.lock:
            self.answers.setdefault(token, []).extend(responses)

    def record(self, token, **request):
        with self.lock:
            self.requests.append({"token": token, "at": time.monotonic(), **request})
            queued = self.answers.get(token)
            response = queued.pop(0) if queued else (200, {})
        if self.delay:
            time.sleep(self.delay)
        status, body, *rest = response
        return status, body, (rest[0] if rest else {})

    def tokens(self):
        with self.lock:
            return [r["token"] for r in self.requests]

    def to(self, token):
        with self.lock:
            return [r for r in self.requests if r["token"] == token]


class _HTTPStandin:
    """A threaded HTTP/1.1 server on 127.0.0.1 running ``handle(handler, body)``."""

    def __init__(self):
        self.script = Script()
        self.port = free_port()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                status, body, headers = standin.handle(self, self.rfile.read(length))
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class FCMStandin(_HTTPStandin):
    """FCM HTTP v1 plus the OAuth2 token endpoint its service account points at."""

    def __init__(self, workdir):
        super().__init__()
        self.project = "chat-test"
        key = _service_account_key()
        self.public_key = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.client_email = "push@chat-test.iam.gserviceaccount.com"
        self.credentials_file = Path(workdir) / "fcm-service-account.json"
        self.credentials_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": self.project,
                    "private_key_id": "test-key",
                    "private_key": pem,
                    "client_email": self.client_email,
                    "client_id": "1",
                    "token_uri": f"{self.url}/token",
                }
            )
        )
        self.issued = []
        self.token_answers = []

    def handle(self, handler, body):
        if handler.path == "/token":
            return self._token(body)
        auth = handler.headers.get("Authorization", "")
        if not self.issued or auth != f"Bearer {self.issued[-1]}":
            return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, {}
        message = json.loads(body)["message"]
        return self.script.record(message["token"], path=handler.path, message=message)

    def _token(self, body):
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        # The assertion must be the service account's JWT, signed with its key.
        claims = jwt.decode(
            form["assertion"], self.public_key, algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE
        )
        assert claims["iss"] == self.client_email
        if self.token_answers:
            status, answer = self.token_answers.pop(0)
            return status, answer, {}
        token = f"oauth-{len(self.issued) + 1}"
        self.issued.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}, {}

    def settings(self):
        return {
            "PUSH_FCM_CREDENTIALS": str(self.credentials_file),
            "PUSH_FCM_ENDPOINT": self.url,
        }


@functools.cache
def _service_account_key():
    """One RSA key per test run: generating it is the slow part of starting the stand-in."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def fcm_error(status, code, *, token_field=False):
    """An FCM v1 error body as Google sends it."""
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
    if token_field:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "message.token", "description": "Invalid token"}],
            }
        )
    return {"error": {"code": status, "message": code, "status": code, "details": details}}


class WebPushStandin(_HTTPStandin):
    """A push service: subscriptions are ``{url}/push/<id>``."""

    def handle(self, handler, body):
        token = handler.path.rsplit("/", 1)[-1]
        return self.script.record(token, headers=dict(handler.headers), body=body)


class WebSubscriber:
    """A browser's side of a subscription: keys to encrypt for, and to decrypt with."""

    def __init__(self, standin, name):
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.auth = name.encode().ljust(16, b"-")[:16]
        self.token = json.dumps(
            {
                "endpoint": f"{standin.url}/push/{name}",
                "keys": {"p256dh": _b64(point), "auth": _b64(self.auth)},
            }
        )

    def decrypt(self, body):
        import http_ece

        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_key_file(workdir):
    key = ec.generate_private_key(ec.SECP256R1())
    path = Path(workdir) / "vapid.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path, key.public_key()


class APNsStandin:
    """APNs over HTTP/2 with TLS (hypercorn, self-signed certificate made here)."""

    def __init__(self, workdir):
        self.script = Script()
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        workdir = Path(workdir)
        self.cert_file, self.key_file = _self_signed(workdir)
        signing = ec.generate_private_key(ec.SECP256R1())
        self.public_key = signing.public_key()
        self.p8 = workdir / "AuthKey_TEST.p8"
        self.p8.write_bytes(
            signing.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self._started = threading.Event()
        self._stop = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the APNs stand-in did not start")

    def _serve(self):
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.certfile, config.keyfile = str(self.cert_file), str(self.key_file)
        config.loglevel = "WARNING"
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._stop = asyncio.Event()

        async def main():
            task = loop.create_task(serve(self._app, config, shutdown_trigger=self._stop.wait))
            for _ in range(100):
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            self._started.set()
            await task

        loop.run_until_complete(main())

    async def _app(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        token = scope["path"].rsplit("/", 1)[-1]
        claims = jwt.decode(
            headers.get("authorization", "bearer x").split(" ", 1)[1],
            self.public_key,
            algorithms=["ES256"],
        )
        status, answer, extra = await asyncio.to_thread(
            self.script.record,
            token,
            http_version=scope["http_version"],
            headers=headers,
            claims=claims,
            payload=json.loads(body),
        )
        data = json.dumps(answer).encode() if status != 200 else b""
        response_headers = [(b"apns-id", b"0000")] + [
            (k.lower().encode(), str(v).encode()) for k, v in extra.items()
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": data})

    def settings(self):
        return {
            "PUSH_APNS_ENDPOINT": self.url,
            "PUSH_APNS_CA_FILE": str(self.cert_file),
            "PUSH_APNS_KEY_FILE": str(self.p8),
            "PUSH_APNS_KEY_ID": "KEY1234567",
            "PUSH_APNS_TEAM_ID": "TEAM123456",
            "PUSH_APNS_TOPIC": "com.example.chat",
        }

    def stop(self):
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(5)


def _self_signed(workdir):
    import datetime
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = workdir / "apns-cert.pem", workdir / "apns-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
