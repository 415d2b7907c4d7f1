"""``ossc tar``: pack a local folder or an OSS prefix into a tar archive and
write its index, or index an existing archive (``--index-only``), for
``OssIterableDataset.from_tar`` / ``OssMapDataset.from_tar``.

The same as ``python -m ossconnector.datasets.tar`` (the product's
``generate_tar_archive`` options), with the connection taken from the
global options.  See docs/datasets.md.
"""

from __future__ import annotations

import argparse

from ._common import CommandError, credential_source, describe, explain

NAME = "tar"
HELP = "build a tar archive and its index for the tar datasets"


def add_parser(sub, parents):
    p = sub.add_parser(NAME, parents=parents, help=HELP, description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tar-path", required=True, help="archive: oss:// URI or local path")
    p.add_argument("--index-path", required=True, help="index: oss:// URI or local path")
    p.add_argument("--source-path", help="folder or oss:// prefix to pack")
    p.add_argument("--index-only", action="store_true",
                   help="only index the existing archive at --tar-path")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ._common import UsageError

    if not args.index_only and not args.source_path:
        raise UsageError("--source-path is required unless --index-only is given")
    if not args.endpoint:
        raise UsageError("no endpoint: give --endpoint or set OSS_ENDPOINT")
    from ..datasets.tar import generate_tar_archive

    cred_path, _ = credential_source(args)
    try:
        count = generate_tar_archive(args.endpoint, cred_path, args.config, args.tar_path,
                                     args.index_path, args.source_path, args.index_only,
                                     region=args.region or None)
    except (OSError, ValueError) as exc:
        raise CommandError(explain(exc)) from None
    print(f"{count} members indexed in {args.index_path}")
    return 0
