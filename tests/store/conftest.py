"""Fixtures of the store tests: a real S3-compatible server (moto's) on 127.0.0.1, and a bucket per test.

The client finds the server, and dummy credentials, through the standard
AWS environment variables only (``monkeypatch.setenv``: no library is
patched); child processes and Dask workers started in the test inherit them.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

#: The dummy secret access key of the test server: it must never show in anything ledgerkit writes or says.
S3_SECRET = "sEcReT-s3-dummy-7Qx9Lm2Vp4"
S3_KEY_ID = "AKIALEDGERKITTEST01"


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of a moto S3 server serving one request at a time (see ``_s3server.py``)."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_s3server.py"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path):
    """``s3://<a new bucket>/ledgerkit``, with the server and dummy credentials in this process's environment."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    import s3fs

    bucket = f"lk-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}/ledgerkit"


@pytest.fixture(params=["local", "s3"])
def store_url(request, tmp_path):
    """A store's root: a local directory, then an ``s3://`` URL on the test server."""
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3")
