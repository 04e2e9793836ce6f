"""The backup document's shell script, run for real.

The script is read out of modules/asg-backup/backup-document.yaml (the file Terraform deploys) and run under
dash, the strictest common POSIX sh, with the parameters as the SSM Agent passes them (SSM_<Name> environment
variables), a stub IMDSv2 server on 127.0.0.1 (token PUT, then metadata GETs that must carry the token) and a
stub `aws` on PATH that records its arguments and keeps a copy of the uploaded file. The script itself is run
unchanged: it asks http://169.254.169.254, and a `curl` wrapper on PATH hands those URLs to the real curl with
the stub server's address instead.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = REPO / "modules" / "asg-backup" / "backup-document.yaml"
INSTANCE = "i-0fedcba9876543210"
TOKEN = "AQAEAJ-test-token=="
KEY = f"asg-backup/web-asg/{INSTANCE}/20261123T043107Z.tar.gz"

DASH = shutil.which("dash")
pytestmark = pytest.mark.skipif(
    DASH is None or not all(shutil.which(tool) for tool in ("curl", "tar", "sha256sum", "mktemp")),
    reason="needs dash (apt-get install -y dash), curl, tar, sha256sum and mktemp to run the document's script",
)


def script_text() -> str:
    document = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    (step,) = document["mainSteps"]
    assert step["action"] == "aws:runShellScript"
    return "\n".join(step["inputs"]["runCommand"])


class Imds(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str, dict[str, str]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        self.requests.append(("PUT", self.path, dict(self.headers)))
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self._send(200, TOKEN)
        else:
            self._send(400, "bad token request")

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, dict(self.headers)))
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self._send(401, "IMDSv2 token required")
            return
        values = {"/latest/meta-data/instance-id": INSTANCE, "/latest/meta-data/placement/region": "eu-central-1"}
        if self.path in values:
            self._send(200, values[self.path])
        else:
            self._send(404, "not found")


@pytest.fixture
def imds() -> Iterator[str]:
    Imds.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


STUB_AWS = """#!/bin/sh
printf '%s\\n' "$@" > "$AWS_STUB_ARGS"
cp "$3" "$AWS_STUB_UPLOAD"
"""

CURL = shutil.which("curl")
IMDS = "http://169.254.169.254"
STUB_CURL = f"""#!/bin/sh
# The real curl, with the link-local IMDS address replaced by the stub server's ($IMDS_STUB).
for arg do
  shift
  case "$arg" in
    {IMDS}/*) arg="$IMDS_STUB${{arg#{IMDS}}}" ;;
  esac
  set -- "$@" "$arg"
done
exec "{CURL}" "$@"
"""


def stub_tool(tmp_path: Path, name: str, text: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / name
    stub.write_text(text)
    stub.chmod(0o755)


def run_script(
    tmp_path: Path, imds: str, tmpdir: str | None = "tmp", extra_env: dict[str, str] | None = None, **parameters: str
) -> subprocess.CompletedProcess[str]:
    """Run the script with SSM_<name> parameters; `tmpdir` (under tmp_path) is TMPDIR, None leaves it unset."""
    bin_dir = tmp_path / "bin"
    stub_tool(tmp_path, "aws", STUB_AWS)
    stub_tool(tmp_path, "curl", STUB_CURL)
    script = tmp_path / "_script.sh"
    script.write_text(script_text())
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "AWS_STUB_ARGS": str(tmp_path / "aws-args.txt"),
        "AWS_STUB_UPLOAD": str(tmp_path / "uploaded.tar.gz"),
        "IMDS_STUB": imds,
        "SSM_KmsKeyId": "",
        "SSM_AutoScalingGroupName": "web-asg",
        "SSM_LifecycleHookName": "opskit-asg-backup",
        "SSM_LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
        **{f"SSM_{name}": value for name, value in parameters.items()},
        **(extra_env or {}),
    }
    if tmpdir is not None:
        env["TMPDIR"] = str(tmp_path / tmpdir)
        (tmp_path / tmpdir).mkdir(exist_ok=True)
    assert DASH is not None
    return subprocess.run([DASH, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "log" / "app").mkdir(parents=True)
    (root / "log" / "app" / "app.log").write_text("line 1\nline 2\n")
    (root / "log" / "messages").write_text("boot\n")
    (root / "state").mkdir()
    (root / "state" / "db.bin").write_bytes(bytes(range(256)) * 64)
    return root


def test_script_archives_existing_paths_and_uploads_to_the_exact_key(tmp_path: Path, imds: str, data: Path) -> None:
    paths = f"{data}/log {data}/missing {data}/state"
    run = run_script(tmp_path, imds, BackupPaths=paths, Bucket="opskit-backups", ObjectKey=KEY)

    assert run.returncode == 0, run.stderr
    assert f"skipping missing path {data}/missing" in run.stderr

    uploaded = (tmp_path / "uploaded.tar.gz").read_bytes()
    sha256 = hashlib.sha256(uploaded).hexdigest()
    args = (tmp_path / "aws-args.txt").read_text().splitlines()
    archive = args[2]
    assert args[:2] == ["s3", "cp"]
    assert archive.startswith(str(tmp_path / "tmp")) and archive.endswith("/backup.tar.gz")
    assert args[3:] == [
        f"s3://opskit-backups/{KEY}",
        "--sse",
        "aws:kms",
        "--region",
        "eu-central-1",
        "--metadata",
        f"sha256={sha256},instance-id={INSTANCE}",
        "--no-progress",
        "--only-show-errors",
    ]
    assert not Path(archive).exists(), "the temporary archive is removed on exit"

    with tarfile.open(fileobj=io.BytesIO(uploaded), mode="r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    rel = str(data).lstrip("/")
    assert files == {
        f"{rel}/log/app/app.log": b"line 1\nline 2\n",
        f"{rel}/log/messages": b"boot\n",
        f"{rel}/state/db.bin": bytes(range(256)) * 64,
    }

    marker = [line for line in run.stdout.splitlines() if line.startswith("OPSKIT_BACKUP_RESULT ")]
    assert len(marker) == 1
    assert json.loads(marker[0].split(" ", 1)[1]) == {
        "bucket": "opskit-backups",
        "key": KEY,
        "bytes": len(uploaded),
        "sha256": sha256,
        "instance_id": INSTANCE,
    }

    assert [(method, path) for method, path, _ in Imds.requests] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/instance-id"),
        ("GET", "/latest/meta-data/placement/region"),
    ]


def test_script_uses_the_given_kms_key(tmp_path: Path, imds: str, data: Path) -> None:
    key_arn = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    run = run_script(tmp_path, imds, BackupPaths=f"{data}/log", Bucket="b-ck", ObjectKey=KEY, KmsKeyId=key_arn)
    assert run.returncode == 0, run.stderr
    args = (tmp_path / "aws-args.txt").read_text().splitlines()
    assert args[4:8] == ["--sse", "aws:kms", "--sse-kms-key-id", key_arn]


def test_script_refuses_a_key_for_another_instance(tmp_path: Path, imds: str, data: Path) -> None:
    other = KEY.replace(INSTANCE, "i-0123456789abcdef0")
    run = run_script(tmp_path, imds, BackupPaths=f"{data}/log", Bucket="b-ck", ObjectKey=other)
    assert run.returncode == 65
    assert f"does not name this instance ({INSTANCE})" in run.stderr
    assert not (tmp_path / "aws-args.txt").exists()


def test_script_fails_when_no_path_exists(tmp_path: Path, imds: str) -> None:
    run = run_script(tmp_path, imds, BackupPaths="/nonexistent/a /nonexistent/b", Bucket="b-ck", ObjectKey=KEY)
    assert run.returncode == 66
    assert "none of the paths exist" in run.stderr
    assert not (tmp_path / "aws-args.txt").exists()


def test_script_needs_env_var_interpolation(tmp_path: Path, imds: str, data: Path) -> None:
    run = run_script(tmp_path, imds, BackupPaths=f"{data}/log", ObjectKey=KEY)  # no SSM_Bucket
    assert run.returncode == 64
    assert "SSM_Bucket is not set" in run.stderr


def test_script_reads_metadata_from_the_link_local_imds_only(tmp_path: Path, imds: str, data: Path) -> None:
    """No parameter moves the metadata endpoint any more (MetadataEndpoint was dropped): an SSM_MetadataEndpoint
    in the environment is ignored, and the instance id still comes from 169.254.169.254 (the stub behind it)."""
    assert "SSM_MetadataEndpoint" not in script_text()
    run = run_script(
        tmp_path,
        imds,
        extra_env={"SSM_MetadataEndpoint": "http://127.0.0.1:9"},
        BackupPaths=f"{data}/log",
        Bucket="b-ck",
        ObjectKey=KEY,
    )
    assert run.returncode == 0, run.stderr
    assert [path for _, path, _ in Imds.requests][:2] == ["/latest/api/token", "/latest/meta-data/instance-id"]


def test_script_fails_without_imds_token(tmp_path: Path, data: Path) -> None:
    """Nothing listens on the endpoint: the upload never happens and the command fails."""
    run = run_script(tmp_path, "http://127.0.0.1:9", BackupPaths=f"{data}/log", Bucket="b-ck", ObjectKey=KEY)
    assert run.returncode != 0
    assert not (tmp_path / "aws-args.txt").exists()


def test_script_does_not_glob_or_split_beyond_spaces(tmp_path: Path, imds: str, data: Path) -> None:
    (data / "log" / "star").mkdir()
    run = run_script(tmp_path, imds, BackupPaths=f"{data}/log/*", Bucket="b-ck", ObjectKey=KEY)
    assert run.returncode == 66, "a literal '*' path does not exist and must not be expanded by the shell"


def test_script_fails_when_the_archive_cannot_be_checksummed(tmp_path: Path, imds: str, data: Path) -> None:
    """sha256sum fails inside a pipeline whose status is cut's: the script must notice the empty checksum."""
    stub_tool(tmp_path, "sha256sum", "#!/bin/sh\necho 'sha256sum: read error' >&2\nexit 1\n")
    run = run_script(tmp_path, imds, BackupPaths=f"{data}/log", Bucket="b-ck", ObjectKey=KEY)
    assert run.returncode == 70, run.stderr
    assert "could not checksum or measure the archive" in run.stderr
    assert not (tmp_path / "aws-args.txt").exists()


def test_script_archives_under_var_tmp_by_default(tmp_path: Path, imds: str, data: Path) -> None:
    """Without TMPDIR the archive goes to /var/tmp (disk), not /tmp (a RAM-sized tmpfs on Amazon Linux 2023)."""
    if not Path("/var/tmp").is_dir() or not os.access("/var/tmp", os.W_OK):
        pytest.skip("/var/tmp is not writable here")
    run = run_script(tmp_path, imds, tmpdir=None, BackupPaths=f"{data}/log", Bucket="b-ck", ObjectKey=KEY)
    assert run.returncode == 0, run.stderr
    archive = Path((tmp_path / "aws-args.txt").read_text().splitlines()[2])
    assert archive.parent.parent == Path("/var/tmp")
    assert archive.parent.name.startswith("opskit-asg-backup.")
    assert not archive.parent.exists(), "the work directory is removed on exit"
