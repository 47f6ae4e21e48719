"""``tabellion backup`` and ``tabellion restore``: the database, the stored files and the keys,
taken together into one folder and put back into an empty installation.

A backup folder holds ``manifest.json`` (written last: a folder without it is an unfinished
backup), ``keys/`` (the seal, the secret key and the other key files, each with its SHA-256 in
the manifest), ``database.sqlite`` (SQLite's online backup) or ``database.pgdump``
(``pg_dump --format=custom``), and ``blobs/ab/<sha256>`` (every stored file, checked against
its hash as it is read). The keys are copied first, the database next and the blobs last:
blobs are immutable and named by their hash, so the blobs copied after the dump are a superset
of those it references. The folder is made mode 0700; it holds private keys.

A restore checks everything before it changes anything (the manifest, every key and dump
against its hash, an empty target database, no different key file in the way), then puts the
keys and the blobs back, and the database last, so an interrupted restore can be run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from tabellion import __version__
from tabellion.cli._runtime import load_settings, require_database

if TYPE_CHECKING:
    from tabellion.config import Settings
    from tabellion.document.storage import BlobStore

console = Console()
err = Console(stderr=True)

FORMAT = 1
MANIFEST = "manifest.json"
CHUNK = 1 << 20
# Key material in the data dir: the link-signing key, the self-issued seal (its key, chain,
# root and the transparency log's checkpoint key), the self-issued root's private key while
# it has not been moved offline, a generated DKIM key, a local time-stamping authority.
DATA_DIR_KEYS = ("secret.key", "seal", "seal-root-ca.key.MOVE-OFFLINE", "dkim.key", "tsa")
# Key files that settings name, wherever they are.
EXTERNAL_KEYS = ("seal_key_file", "seal_cert_file", "dkim_key_file", "tsa_trust_file", "mtls_ca")
SECRET_KEY_FILE = "keys/TABELLION_SECRET_KEY"  # noqa: S105 (a file name)


class BackupError(Exception):
    """What stops a backup or a restore; the message says what to do."""


@dataclass
class Manifest:
    created_at: str
    database: dict[str, Any]
    files: list[dict[str, str]]
    blobs: dict[str, Any] | None
    secret_key_from_environment: bool
    version: str = __version__
    format: int = FORMAT
    damaged_blobs: list[str] = field(default_factory=list)


# ---- commands ------------------------------------------------------------------------------
def backup(
    destination: Annotated[
        Path, typer.Argument(help="A new (or empty) folder to write the backup into.")
    ],
    blobs: Annotated[
        bool,
        typer.Option(
            "--blobs/--no-blobs",
            help="Copy the stored files too; --no-blobs when the bucket has its own versioning "
            "or replication.",
        ),
    ] = True,
) -> None:
    """Back up the database, the stored files and the keys (seal, secret key) into a folder.

    Safe while Tabellion runs. The folder holds private keys: keep it as such.
    """
    settings = load_settings()
    require_database(settings)
    try:
        manifest = asyncio.run(write_backup(settings, destination, blobs=blobs))
    except BackupError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    copied = manifest.blobs or {}
    console.print(
        f"Backup written to {escape(str(destination))}: database at revision "
        f"{manifest.database['revision']}, {len(manifest.files)} key files, "
        f"{copied.get('count', 'no')} stored files",
        highlight=False,
        soft_wrap=True,
    )
    if manifest.secret_key_from_environment:
        console.print(
            f"TABELLION_SECRET_KEY comes from the environment: it is saved in {SECRET_KEY_FILE}."
        )
    if manifest.damaged_blobs:
        for key in manifest.damaged_blobs:
            err.print(f"[red]unreadable stored file:[/red] {key} (run `tabellion storage check`)")
        raise typer.Exit(1)


def restore(
    source: Annotated[
        Path, typer.Argument(help="A folder written by `tabellion backup`.", file_okay=False)
    ],
) -> None:
    """Restore a backup into this installation, whose database must be empty.

    The target is what the settings name (TABELLION_DATABASE_URL, TABELLION_STORAGE_URL,
    TABELLION_DATA_DIR); key files go back where they were, or where the settings now name them.
    """
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        manifest = asyncio.run(restore_backup(settings, source))
    except BackupError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(
        f"Restored the backup of {manifest.created_at} (Tabellion {manifest.version}, database "
        f"revision {manifest.database['revision']}). Next: `tabellion db upgrade` if this "
        "version is newer, then `tabellion evidence check` and `tabellion storage check`.",
        highlight=False,
        soft_wrap=True,
    )
    _tell_about_secret_key(settings, source, manifest)


def _tell_about_secret_key(settings: Settings, source: Path, manifest: Manifest) -> None:
    if not manifest.secret_key_from_environment:
        return
    saved = (source / SECRET_KEY_FILE).read_text()
    current = settings.secret_key.get_secret_value() if settings.secret_key else None
    if current == saved:
        return
    what = "is not set" if current is None else "differs from the one backed up"
    console.print(
        f"[yellow]TABELLION_SECRET_KEY {what}:[/yellow] set it to the content of "
        f"{escape(str(source / SECRET_KEY_FILE))}, or links and sessions given out before "
        "the backup stop working.",
        soft_wrap=True,
    )


# ---- backup --------------------------------------------------------------------------------
async def write_backup(settings: Settings, destination: Path, *, blobs: bool) -> Manifest:
    from tabellion.document.storage import open_store
    from tabellion.kit.time import utcnow

    _prepare_destination(destination)
    created_at = utcnow().isoformat().replace("+00:00", "Z")
    files = _copy_keys_out(settings, destination)
    from_environment = settings.secret_key is not None
    if settings.secret_key is not None:
        path = destination / SECRET_KEY_FILE
        _write_private(path, settings.secret_key.get_secret_value().encode())
        files.append({"path": SECRET_KEY_FILE, "sha256": _sha256(path), "restore_to": "env"})
    database = await asyncio.to_thread(_dump_database, settings, destination)
    copied: dict[str, Any] | None = None
    damaged: list[str] = []
    if blobs:
        store = open_store(settings.resolved_storage_url)
        try:
            copied, damaged = await _copy_blobs_out(store, destination / "blobs")
        finally:
            await store.close()
    manifest = Manifest(
        created_at=created_at,
        database=database,
        files=files,
        blobs=copied,
        secret_key_from_environment=from_environment,
        damaged_blobs=damaged,
    )
    text = json.dumps(manifest.__dict__, indent=2, sort_keys=True) + "\n"
    _write_private(destination / MANIFEST, text.encode())
    return manifest


def _prepare_destination(destination: Path) -> None:
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise BackupError(f"{destination} exists and is not an empty folder")
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    destination.chmod(0o700)


def _copy_keys_out(settings: Settings, destination: Path) -> list[dict[str, str]]:
    files: list[dict[str, str]] = []
    for name in DATA_DIR_KEYS:
        origin = settings.data_dir / name
        paths = sorted(p for p in origin.rglob("*") if p.is_file()) if origin.is_dir() else []
        if origin.is_file():
            paths = [origin]
        for path in paths:
            relative = path.relative_to(settings.data_dir).as_posix()
            files.append(_copy_key(path, destination, f"keys/data/{relative}", f"data:{relative}"))
    for setting in EXTERNAL_KEYS:
        configured: Path | None = getattr(settings, setting)
        if configured is None or not configured.is_file():
            continue
        entry = _copy_key(configured, destination, f"keys/settings/{setting}", f"setting:{setting}")
        entry["original"] = str(configured.resolve())
        files.append(entry)
    return files


def _copy_key(path: Path, destination: Path, relative: str, restore_to: str) -> dict[str, str]:
    target = destination / relative
    _write_private(target, path.read_bytes())
    return {"path": relative, "sha256": _sha256(target), "restore_to": restore_to}


def _dump_database(settings: Settings, destination: Path) -> dict[str, Any]:
    from tabellion.migrations import current_revision

    url = settings.resolved_database_url
    revision = current_revision(url)
    if settings.is_sqlite:
        target = destination / "database.sqlite"
        _sqlite_copy(_sqlite_path(url), target)
        kind = "sqlite"
    else:
        target = destination / "database.pgdump"
        dsn, env = _libpq(url)
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--file",
                str(target),
                "--dbname",
                dsn,
            ],
            env,
        )
        kind = "postgresql"
    target.chmod(0o600)
    return {"kind": kind, "path": target.name, "sha256": _sha256(target), "revision": revision}


async def _copy_blobs_out(store: BlobStore, folder: Path) -> tuple[dict[str, Any], list[str]]:
    from tabellion.document.encryption import stored_under_a_name
    from tabellion.document.storage import StoredFileUnavailable

    count = size = 0
    damaged: list[str] = []
    async for key in store.list_keys():
        target = folder / key[:2] / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        # Each blob is checked against its address, unless it is an encrypted blob of layout 2
        # (its address is a name; its chunks are authenticated when it is read).
        hasher = hashlib.sha256()
        head = b""
        try:
            with partial.open("wb") as fh:
                async for chunk in store.open(key, verify=False):
                    if len(head) < 16:
                        head += chunk[:16]
                    hasher.update(chunk)
                    await asyncio.to_thread(fh.write, chunk)
                    size += len(chunk)
            whole = hasher.hexdigest() == key or stored_under_a_name(head)
        except StoredFileUnavailable:
            whole = False
        if not whole:
            # A damaged file is named, not copied: a restore must not bring it back as good.
            partial.unlink(missing_ok=True)
            damaged.append(key)
            continue
        partial.rename(target)
        count += 1
    return {"count": count, "bytes": size}, damaged


# ---- restore -------------------------------------------------------------------------------
async def restore_backup(settings: Settings, source: Path) -> Manifest:
    from tabellion.document.storage import open_store

    manifest = _read_manifest(source)
    _check_files(source, manifest)
    placements = _key_placements(settings, source, manifest)
    await asyncio.to_thread(_check_empty_database, settings, manifest)
    for origin, target in placements:
        _write_private(target, origin.read_bytes())
    if manifest.blobs is not None:
        store = open_store(settings.resolved_storage_url)
        try:
            await _copy_blobs_in(store, source / "blobs")
        finally:
            await store.close()
    await asyncio.to_thread(_load_database, settings, source, manifest)
    return manifest


def _read_manifest(source: Path) -> Manifest:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} holds no {MANIFEST}: not a finished `tabellion backup`")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise BackupError(f"backup format {data.get('format')!r} is not {FORMAT}")
    return Manifest(**data)


def _check_files(source: Path, manifest: Manifest) -> None:
    entries = [*manifest.files, manifest.database]
    for entry in entries:
        path = source / entry["path"]
        if not path.is_file():
            raise BackupError(f"{path} is missing from the backup")
        if _sha256(path) != entry["sha256"]:
            raise BackupError(f"{path} does not match its SHA-256 in the manifest: damaged")


def _key_placements(
    settings: Settings, source: Path, manifest: Manifest
) -> list[tuple[Path, Path]]:
    """Where each key file goes; refuses when a different file is already there."""
    placements: list[tuple[Path, Path]] = []
    for entry in manifest.files:
        kind, _, name = entry["restore_to"].partition(":")
        if kind == "data":
            target = settings.data_dir / name
        elif kind == "setting":
            configured: Path | None = getattr(settings, name, None)
            target = configured or Path(entry["original"])
        else:
            continue  # TABELLION_SECRET_KEY: the operator sets it (see the command's output)
        if target.exists():
            if _sha256(target) != entry["sha256"]:
                raise BackupError(
                    f"{target} exists and differs from the backed-up {entry['path']}: "
                    "restore into a fresh data dir, or move it away"
                )
            continue
        placements.append((source / entry["path"], target))
    return placements


def _check_empty_database(settings: Settings, manifest: Manifest) -> None:
    from sqlalchemy import create_engine, text

    from tabellion.migrations import sync_url

    url = settings.resolved_database_url
    kind = "sqlite" if settings.is_sqlite else "postgresql"
    if kind != manifest.database["kind"]:
        raise BackupError(
            f"the backup holds a {manifest.database['kind']} database; "
            f"TABELLION_DATABASE_URL names {kind}"
        )
    if kind == "sqlite" and not _sqlite_path(url).exists():
        return
    query = (
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        if kind == "sqlite"
        else "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    )
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            tables = conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()
    if tables:
        raise BackupError(
            f"the target database is not empty ({tables} tables): restore into a new database"
        )


async def _copy_blobs_in(store: BlobStore, folder: Path) -> None:
    from tabellion.document.encryption import stored_under_a_name

    for path in await asyncio.to_thread(_blob_files, folder):
        if await store.exists(path.name):
            continue
        with path.open("rb") as fh:
            head = fh.read(16)
        if stored_under_a_name(head):
            # Encrypted, layout 2: its address is a name (its chunks are authenticated on reading).
            await store.put_stream(_chunks(path), key=path.name)
            continue
        stored = await store.put_stream(_chunks(path))
        if stored.key != path.name:
            raise BackupError(f"{path} does not match its name (SHA-256): damaged")


def _blob_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*")) if folder.is_dir() else []


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk


def _load_database(settings: Settings, source: Path, manifest: Manifest) -> None:
    dump = source / manifest.database["path"]
    url = settings.resolved_database_url
    if settings.is_sqlite:
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(dump, target)
        return
    dsn, env = _libpq(url)
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            dsn,
            str(dump),
        ],
        env,
    )


# ---- helpers -------------------------------------------------------------------------------
def _sqlite_path(url: str) -> Path:
    from tabellion.db import sqlite_file

    path = sqlite_file(url)
    if path is None:
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return path


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while writers go on."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The SQLAlchemy URL as libpq takes it; the password goes by environment, not argv."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client; it must "
            "be at least the server's major version)"
        )
    done = subprocess.run(  # noqa: S603 (a fixed program, arguments as a list)
        command, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    path.chmod(0o600)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
