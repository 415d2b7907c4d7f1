"""Virtual-hosted vs path-style addressing."""

import pytest

from ossconnector.emulator.testing import build_request, parse_head, raw_exchange, request_target, signed_headers


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_virtual_hosted_get_put_list(emu, bucket_name, version):
    host = "%s.ossemu.test:%d" % (bucket_name, emu.port)
    key = "vh/dir/a b+c.txt"
    # PUT through virtual-hosted addressing
    headers = signed_headers(emu, "PUT", bucket_name, key, headers={"Content-Type": "text/plain"},
                             auth_version=version)
    headers.update(Host=host, Connection="close")
    head, body, _ = raw_exchange(emu.endpoint, build_request(
        "PUT", request_target(bucket_name, key, virtual_hosted=True), headers, b"virtual"))
    assert parse_head(head)[0] == 200, body
    # GET it back the same way
    headers = signed_headers(emu, "GET", bucket_name, key, auth_version=version)
    headers.update(Host=host, Connection="close")
    head, body, _ = raw_exchange(emu.endpoint, build_request(
        "GET", request_target(bucket_name, key, virtual_hosted=True), headers))
    assert parse_head(head)[0] == 200 and body == b"virtual"
    # bucket-level request: list with a prefix
    params = {"prefix": "vh/"}
    headers = signed_headers(emu, "GET", bucket_name, "", params=params, auth_version=version)
    headers.update(Host=host, Connection="close")
    head, body, _ = raw_exchange(emu.endpoint, build_request(
        "GET", request_target(bucket_name, "", params, virtual_hosted=True), headers))
    assert parse_head(head)[0] == 200 and b"<Key>vh/dir/a b+c.txt</Key>" in body


def test_virtual_hosted_with_region_label(emu, bucket_name):
    emu.put_object(bucket_name, "k", b"region-label")
    host = "%s.oss-cn-hangzhou.ossemu.test" % bucket_name
    headers = signed_headers(emu, "GET", bucket_name, "k")
    headers.update(Host=host, Connection="close")
    head, body, _ = raw_exchange(emu.endpoint, build_request("GET", "/k", headers))
    assert parse_head(head)[0] == 200 and body == b"region-label"


@pytest.mark.parametrize("host_fmt", ["127.0.0.1:{port}", "localhost:{port}", "other.example:{port}",
                                      "ossemu.test:{port}"])
def test_path_style_for_other_hosts(emu, bucket_name, host_fmt):
    emu.put_object(bucket_name, "p/k", b"path-style")
    headers = signed_headers(emu, "GET", bucket_name, "p/k")
    headers.update(Host=host_fmt.format(port=emu.port), Connection="close")
    head, body, _ = raw_exchange(emu.endpoint, build_request("GET", request_target(bucket_name, "p/k"), headers))
    assert parse_head(head)[0] == 200 and body == b"path-style"


def test_signature_covers_bucket_from_host(emu, bucket_name):
    """A request signed for one bucket fails when sent to another bucket's host."""
    emu.put_object(bucket_name, "k", b"x")
    headers = signed_headers(emu, "GET", "some-other-bucket", "k")
    headers.update(Host="%s.ossemu.test" % bucket_name, Connection="close")
    head, body, _ = raw_exchange(emu.endpoint, build_request("GET", "/k", headers))
    assert parse_head(head)[0] == 403 and b"SignatureDoesNotMatch" in body
