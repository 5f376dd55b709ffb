"""deploy/nginx.conf, as shipped, in front of two real daphne nodes during a rolling restart.

The test runs the example configuration with only what must differ on a test
machine replaced (ports, addresses, certificate paths), so that a change to
the example that breaks websockets, failover or the hidden ``/metrics`` fails
here. It needs the ``nginx`` and ``openssl`` binaries and is skipped without them.
"""

import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from ops.shutdown import CLOSE_SERVICE_RESTART
from tests.live import ROOT, free_port, wait_for_port
from tests.ops.helpers import Peer, assert_stored_once, chat_through_restart, users_and_room

MAIN = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/chat.conf;
}}
"""


def substitute(text, pattern, replacement):
    changed, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count, f"deploy/nginx.conf no longer has {pattern!r}"
    return changed


def site_config(nodes, http_port, https_port, cert, key):
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    servers = "".join(
        f"    server 127.0.0.1:{n.port} max_fails=1 fail_timeout=10s;\n" for n in nodes
    )
    text = substitute(text, r"^    server 127\.0\.0\.1:800\d .*\n", "")
    text = substitute(text, r"(upstream chat_nodes \{\n)", r"\g<1>" + servers)
    text = substitute(text, r"^    listen \[::\]:.*\n", "")
    text = substitute(text, r"listen 80;", f"listen 127.0.0.1:{http_port};")
    text = substitute(text, r"listen 443 ", f"listen 127.0.0.1:{https_port} ")
    text = substitute(text, r"ssl_certificate .*;", f"ssl_certificate {cert};")
    return substitute(text, r"ssl_certificate_key .*;", f"ssl_certificate_key {key};")


@pytest.fixture
def nginx(tmp_path):
    """Start nginx with the example site in front of the given nodes; stopped after the test."""
    binary, openssl = shutil.which("nginx"), shutil.which("openssl")
    if binary is None or openssl is None:
        pytest.skip("nginx and openssl are needed to run the example proxy configuration")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    procs = []

    def start(nodes):
        http_port, https_port = free_port(), free_port()
        (tmp_path / "chat.conf").write_text(site_config(nodes, http_port, https_port, cert, key))
        (tmp_path / "nginx.conf").write_text(MAIN.format(dir=tmp_path))
        args = [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
        checked = subprocess.run([*args, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        proc = subprocess.Popen([*args, "-g", "daemon off;"], stderr=subprocess.PIPE)
        procs.append(proc)
        wait_for_port(https_port, proc=proc)
        context = ssl.create_default_context(cafile=str(cert))
        return http_port, f"127.0.0.1:{https_port}", context

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def fetch(url, context):
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


async def test_the_example_proxy_carries_chat_through_a_rolling_restart(live_stack, nginx):
    stack = live_stack(db="postgres", layer="redis")
    users, room = users_and_room(stack, 4)
    leaving, staying = stack.start_daphne(), stack.start_daphne()
    http_port, address, context = nginx([leaving, staying])

    status, headers = fetch(f"https://{address}/healthz", context)
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
    assert "max-age=63072000" in headers["Strict-Transport-Security"]
    assert fetch(f"https://{address}/metrics", context)[0] == 404
    redirect = urllib.request.Request(f"http://127.0.0.1:{http_port}/healthz", method="HEAD")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as moved:
        opener.open(redirect, timeout=10)
    assert moved.value.code == 301
    assert moved.value.headers["Location"].startswith("https://")

    url = f"wss://{address}/ws/chat/"
    peers = [Peer(u["username"], u["token"], room, url, ssl=context) for u in users]
    for peer in peers:
        await peer.open(url, resume=False)
    total = await chat_through_restart(peers, leaving, url, sends=20, interval=0.03)

    assert leaving.popen.wait(15) == 0
    # Round robin put some clients on the node that left; they came back through nginx.
    restarted = [p for p in peers if p.close_codes]
    assert restarted and all(p.close_codes == [CLOSE_SERVICE_RESTART] for p in restarted)
    assert_stored_once(stack, room, total)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
