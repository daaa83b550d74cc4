"""Self-signed certificates made at test time with the `openssl` command (no key material in the repo)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def self_signed(folder: Path, *, name: str = "server", days: int = 1, host: str = "127.0.0.1") -> tuple[str, str]:
    """(certificate, key) PEM paths for `host` (an IP address or DNS name, in CN and subjectAltName),
    valid for `days`. Skips the calling test when openssl is not installed."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    san = f"IP:{host}" if host.replace(".", "").isdigit() or ":" in host else f"DNS:{host}"
    cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days), "-subj", f"/CN={host}",
         "-addext", f"subjectAltName={san}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=120,
    )
    return str(cert), str(key)
