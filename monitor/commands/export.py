"""``monitor export DIR [--source ID] [--since TIME]``: write an auditor's bundle.

The bundle (events, blobs, checkpoints, inclusion proofs, WARC, public key, signed
manifest, VERIFY.md) is checked offline by ``monitor verify --export DIR`` or by
hand with the standard tools VERIFY.md names. A checkpoint is signed first when
none covers the exported events. Exit 1 if a blob could not be exported.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.commands import common

if TYPE_CHECKING:
    from monitor.config.settings import Settings


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "export",
        run,
        description="Export the log, or one source's part of it with inclusion proofs, to "
        "DIR (which must be new or empty), verifiable offline with standard tools.",
    )
    parser.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        help="a new or empty directory (optional with --wacz)",
    )
    parser.add_argument(
        "--wacz",
        metavar="FILE",
        help="also (or only) write the captures as a WACZ 1.1 web archive, signed with the key",
    )
    parser.add_argument("--source", metavar="ID", help="only this source (with proofs)")
    common.add_since(parser)


def require_empty(target: Path) -> None:
    """Refuse to mix a bundle with other files: its manifest must list exactly its own."""
    if "\0" in str(target):
        raise common.UsageError("the output directory's name contains a NUL character")
    try:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise common.UsageError(
                f"{target} exists and is not an empty directory; choose a new one"
            )
    except OSError as exc:  # a name too long, a parent that is a file, no permission
        raise common.UsageError(
            f"cannot use {target} as the output directory: {exc.strerror}"
        ) from exc


@contextlib.contextmanager
def output_directory(target: Path) -> Iterator[None]:
    """Make the (empty) output directory before anything is read or signed for it.

    Every way it cannot be made — a dangling symlink, a parent that is a file or
    may not be written, a name too long — is one line (``common.UsageError``), not a
    traceback after a checkpoint was already signed. If the command then fails,
    a directory this call created is removed again while still empty; an error
    writing into it is reported the same way.
    """
    require_empty(target)
    created = not os.path.lexists(target)
    try:
        os.makedirs(target, exist_ok=True)
    except FileExistsError as exc:
        what = "a symbolic link to a missing path" if os.path.islink(target) else "not a directory"
        raise common.UsageError(f"{target} is {what}; choose a new directory") from exc
    except OSError as exc:
        raise common.UsageError(f"cannot create {target}: {exc.strerror}") from exc
    try:
        yield
    except BaseException as exc:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(target)  # only while empty: never removes what was written
        if isinstance(exc, OSError):
            raise common.UsageError(f"cannot write into {target}: {exc.strerror or exc}") from exc
        raise


async def run(args: argparse.Namespace) -> int:
    if args.directory is None and args.wacz is None:
        raise common.UsageError("give a directory for the bundle, --wacz FILE, or both")
    target = Path(args.directory) if args.directory is not None else None
    wacz = Path(args.wacz) if args.wacz is not None else None
    if wacz is not None and wacz.exists():
        raise common.UsageError(f"{wacz} exists; choose a new file for the WACZ")
    since = common.parse_when(args.since) if args.since else None
    settings = common.settings_if_present(args)
    if target is None:
        return await _export(args, None, wacz, since, settings)
    with output_directory(target):
        return await _export(args, target, wacz, since, settings)


async def _export(
    args: argparse.Namespace,
    target: Path | None,
    wacz: Path | None,
    since: datetime | None,
    settings: Settings | None,
) -> int:
    from monitor.audit.export import export_bundle
    from monitor.audit.wacz import export_wacz

    home = common.audit_home_for(args, settings)
    now = datetime.now(UTC)
    report = wacz_report = None
    # A checkpoint is appended and signed: never over a log altered at its head.
    async with common.open_log(args, settings, append=True) as store:
        # Only once the database opened as a log: a typo in --db must not leave a new key.
        signer = home.signer()
        if args.source is not None:
            await common.require_source(store, args.source)
        if target is not None:
            report = await export_bundle(
                store,
                target,
                signer=signer,
                journal=home,
                now=now,
                source=args.source,
                since=since,
            )
        if wacz is not None:
            wacz_report = await export_wacz(
                store, wacz, signer=signer, now=now, source=args.source, since=since
            )
    missing: list[str] = []
    if report is not None:
        cp = report.checkpoint
        print(
            f"exported {report.events} events, {report.blobs} blobs, {report.responses} "
            f"responses and {report.revisits} revisits to {target} ({report.kind})"
        )
        print(f"checkpoint at seq {cp.seq}: {cp.tree_size} events, root {cp.checkpoint.root_hash}")
        print(f"key id {cp.checkpoint.key_id}; verify with: monitor verify --export {target}")
        missing += report.missing_blobs
    if wacz_report is not None:
        print(
            f"wrote the WACZ {wacz}: {wacz_report.pages} pages, {wacz_report.responses} "
            f"responses, {wacz_report.revisits} revisits; signed by key {signer.key_id}; "
            f"verify with: monitor verify --wacz {wacz}"
        )
        missing += [m for m in wacz_report.missing_blobs if m not in missing]
    for name in missing:
        print(f"FAILED blob_missing: blob {name} could not be exported (run `monitor verify`)")
    return 1 if missing else 0
