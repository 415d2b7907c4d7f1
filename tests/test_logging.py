"""The log and the audit log: written where config says, private (0600),
one audit line per slow request, and never a secret or token in them."""

import json
import os
import re
import stat

from ossconnector import Client
from tests_helpers import write_config_file


def test_logs_are_private_and_free_of_secrets(emu, bucket, tmp_path):
    token = "STS-TOKEN-" + "q" * 100
    cred = tmp_path / "cred.json"
    cred.write_text(json.dumps({"AccessKeyId": emu.access_key_id,
                                "AccessKeySecret": emu.access_key_secret,
                                "SecurityToken": token}))
    logdir = tmp_path / "logs"
    cfg = write_config_file(tmp_path, logLevel=0, logPath=str(logdir / "connector.log"),
                            auditPath=str(logdir / "audit.log"), auditThresholdMs=0)
    c = Client(emu.endpoint, cred_path=str(cred), config_path=cfg)
    c.put(f"oss://{bucket}/logged", b"x" * 5000)
    assert c.get(f"oss://{bucket}/logged") == b"x" * 5000
    emu.faults.error(status=503, count=1, bucket=bucket, key="logged", method="HEAD")
    c.stat(f"oss://{bucket}/logged")  # one retry, logged
    c.close()

    log = (logdir / "connector.log").read_text()
    audit = (logdir / "audit.log").read_text()
    assert "retrying" in log
    assert "key=\"logged\"" in audit and "status=503" in audit and "status=200" in audit
    # A ranged GET names the bytes it asked for (HEAD and PUT name none).
    assert re.search(r"GET bucket=\S+ key=\"logged\" range=0-\d+ ", audit), audit
    for text in (log, audit):
        assert emu.access_key_secret not in text
        assert token not in text
        assert "Authorization" not in text
    for name in ("connector.log", "audit.log"):
        assert stat.S_IMODE(os.stat(logdir / name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(logdir).st_mode) == 0o700


def test_audit_threshold(emu, bucket, tmp_path, cred_file):
    cfg = write_config_file(tmp_path, auditPath=str(tmp_path / "audit.log"), auditThresholdMs=300)
    c = Client(emu.endpoint, cred_path=cred_file, config_path=cfg)
    c.put(f"oss://{bucket}/fast", b"f")
    c.put(f"oss://{bucket}/slow", b"s")
    emu.faults.delay(0.5, count=1, bucket=bucket, key="slow", method="GET")
    c.open(f"oss://{bucket}/fast", size=1).read()
    c.open(f"oss://{bucket}/slow", size=1).read()
    c.close()
    lines = (tmp_path / "audit.log").read_text().splitlines()
    assert len(lines) == 1 and 'key="slow"' in lines[0]
