"""What every ``ossc`` command shares: global options, exit codes, the
client, URI checks and plain-words error messages."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Tuple

__all__ = [
    "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED",
    "UsageError", "CommandError",
    "add_global_options", "add_progress_options", "credential_source", "make_client",
    "is_oss", "split_oss", "prefix_of", "objects_under", "safe_join", "positive_int",
    "explain", "warn", "describe",
]

EXIT_OK = 0           # everything asked for was done
EXIT_FAILURE = 1      # an operation failed (not found, denied, unreachable, partial copy, ...)
EXIT_USAGE = 2        # the command line is wrong (as argparse does)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

DEFAULT_CRED_FILE = os.path.join("~", ".alibabacloud", "credentials")


class UsageError(Exception):
    """The command line cannot be carried out as given (exit status 2)."""


class CommandError(Exception):
    """A failure whose message is already in plain words (exit status 1)."""


def add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    """--endpoint, --region, --cred-path, --config.

    They are accepted before and after the command name; in a
    subcommand's parser their default is SUPPRESS so that a value given
    before the command is not overwritten by the subcommand's default."""
    env = os.environ

    def default(value):
        return argparse.SUPPRESS if in_subcommand else value

    group = parser.add_argument_group("connection (any command)")
    group.add_argument("--endpoint", metavar="URL", default=default(env.get("OSS_ENDPOINT")),
                       help="OSS endpoint, e.g. oss-cn-hangzhou-internal.aliyuncs.com or "
                            "http://127.0.0.1:9000 (default: $OSS_ENDPOINT)")
    group.add_argument("--region", default=default(env.get("OSS_REGION")),
                       help="region for V4 signing, e.g. cn-hangzhou (default: $OSS_REGION, "
                            "else inferred from the endpoint)")
    group.add_argument("--cred-path", metavar="FILE", default=default(None),
                       help="JSON credential file (default: $OSS_ACCESS_KEY_ID/"
                            "$OSS_ACCESS_KEY_SECRET when set, else "
                            "~/.alibabacloud/credentials when it exists)")
    group.add_argument("--config", metavar="FILE", default=default(None),
                       help="config.json (default: $OSS_CONNECTOR_CONFIG, else "
                            "/etc/oss-connector/config.json when it exists)")


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_const", const=True,
                   default=None, help="show the progress bar even when stderr is not a terminal")
    g.add_argument("--no-progress", "-q", dest="progress", action="store_const", const=False,
                   help="never show the progress bar")


def credential_source(args) -> Tuple[Optional[str], str]:
    """(cred_path to hand to the Client or None, where credentials come from
    in words)."""
    if getattr(args, "cred_path", None):
        return args.cred_path, f"credential file {args.cred_path}"
    if os.environ.get("OSS_ACCESS_KEY_ID"):
        return None, "environment ($OSS_ACCESS_KEY_ID, $OSS_ACCESS_KEY_SECRET)"
    default = os.path.expanduser(DEFAULT_CRED_FILE)
    if os.path.exists(default):
        return default, f"credential file {default}"
    return None, "nowhere (no --cred-path, no $OSS_ACCESS_KEY_ID, no ~/.alibabacloud/credentials)"


def make_client(args, profile: str = "model"):
    """The ossconnector Client the global options describe."""
    endpoint = getattr(args, "endpoint", None)
    if not endpoint:
        raise UsageError("no endpoint: give --endpoint or set OSS_ENDPOINT "
                         "(e.g. oss-cn-hangzhou.aliyuncs.com, or http://127.0.0.1:9000 "
                         "for `ossc emulator`)")
    cred_path, source = credential_source(args)
    if cred_path is None and not os.environ.get("OSS_ACCESS_KEY_ID"):
        raise CommandError(f"no credentials: they come from {source.split(' (')[0]}; give "
                           "--cred-path FILE or set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET")
    from ..client import Client

    try:
        return Client(endpoint, cred_path=cred_path, config_path=getattr(args, "config", None),
                      region=getattr(args, "region", None) or None, profile=profile)
    except OSError as exc:
        raise CommandError(explain(exc)) from None


def is_oss(text: str) -> bool:
    return text.startswith("oss://")


def split_oss(uri: str) -> Tuple[str, str]:
    """('bucket', 'key') of ``oss://bucket/key``; UsageError for anything
    else.  (The engine checks the bucket name itself.)"""
    if not is_oss(uri):
        raise UsageError(f"{uri!r} is not an OSS URI (oss://bucket/key)")
    bucket, _, key = uri[len("oss://"):].partition("/")
    if not bucket:
        raise UsageError(f"{uri!r} names no bucket (oss://bucket/key)")
    return bucket, key


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def prefix_of(uri: str) -> str:
    """oss://b/dir -> oss://b/dir/ ; oss://b/ and oss://b stay the bucket root."""
    bucket, key = split_oss(uri)
    if key and not key.endswith("/"):
        key += "/"
    return f"oss://{bucket}/{key}"


def objects_under(client, uri: str):
    """(entry, relative key) for every object below the prefix, directory
    markers (keys ending in /) left out."""
    prefix = prefix_of(uri)
    strip = len(split_oss(prefix)[1])
    out = []
    for entry in client.list(prefix):
        rel = entry.key[strip:]
        if rel and not rel.endswith("/"):
            out.append((entry, rel))
    if not out:
        raise CommandError(f"no objects under {prefix}")
    return out


def safe_join(root: str, rel: str) -> str:
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise CommandError(f"key part {rel!r} cannot be a local path (empty, '.' or '..' "
                           "component); skipped")
    return os.path.join(root, *parts)


_HINTS = {
    "SignatureDoesNotMatch": "the access key secret is wrong (the server computed a different "
                             "signature); check AccessKeySecret",
    "InvalidAccessKeyId": "the access key id is not known to the server; check AccessKeyId "
                          "(and that it belongs to this cloud account and region)",
    "AccessDenied": "the credentials are valid but not allowed to do this (check the RAM policy "
                    "or bucket policy)",
    "RequestTimeTooSkewed": "this machine's clock is too far from the server's; sync it (NTP)",
    "SecurityTokenExpired": "the STS security token has expired; refresh the credential file",
    "InvalidSecurityToken": "the STS security token is not valid for this access key",
    "NoSuchBucket": "the bucket does not exist (or is in another region/endpoint)",
}


def explain(exc: BaseException) -> str:
    """The exception's message, followed by what it means in plain words
    when the OSS error code or exception type says more."""
    text = str(exc) or type(exc).__name__
    code = getattr(exc, "oss_code", "") or ""
    hint = _HINTS.get(code)
    if hint is None and getattr(exc, "http_status", 0) == 403:
        hint = ("access denied: wrong credentials, no permission, or a skewed clock; "
                "`ossc doctor` checks which")
    if hint is None and isinstance(exc, ConnectionError):
        hint = "the endpoint cannot be reached; check the name, port and network"
    return f"{text}\n  -> {hint}" if hint else text


def warn(message: str) -> None:
    print(f"ossc: {message}", file=sys.stderr)


def describe(doc: str) -> str:
    """A module docstring as --help text (reST literals shown plain)."""
    return doc.replace("``", "").strip()
