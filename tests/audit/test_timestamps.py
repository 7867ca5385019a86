"""RFC 3161 time stamps of checkpoints, from a real TSA (``openssl ts -reply``) on 127.0.0.1.

Tokens are checked by our verifier and by ``openssl ts -verify``; a TSA outage is
recorded, retried and never holds a check.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.audit.checkpoint import Checkpointer
from monitor.audit.key_files import load_or_create_key
from monitor.audit.stamper import TIMESTAMP_STREAM, Stamper
from monitor.config.settings import TimestampAuthority as TsaSettings
from monitor.daemon.service import Daemon
from monitor.store import open_store
from monitor.web.metrics import render_metrics
from monitor.web.model import ReadModel
from tests.audit.test_journals import page, run
from tests.audit.test_tamper import rehash_from, tampering
from tests.audit.tsa import TimestampAuthority
from tests.pageserver import PageServer

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimestampAuthority]:
    server = TimestampAuthority(tmp_path_factory.mktemp("tsa")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rsa_tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimestampAuthority]:
    server = TimestampAuthority(tmp_path_factory.mktemp("rsa"), "RSA TSA", rsa_key=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tsa2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimestampAuthority]:
    server = TimestampAuthority(tmp_path_factory.mktemp("tsa2"), "Second TSA").start()
    try:
        yield server
    finally:
        server.stop()


def config(path: Path, url: str, *tsas: tuple[str, Path]) -> Path:
    listed = ", ".join(f'{{ url = "{u}", certificates = "{c}" }}' for u, c in tsas)
    path.write_text(
        f"[monitor]\nconcurrency = 2\n[audit]\ntimestamp_authorities = [{listed}]\n"
        f'[[source]]\nid = "p"\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return path


def stamp_rows(db: Path) -> list[tuple[int, dict[str, object]]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT seq, data FROM events WHERE type = 'CheckpointTimestamped' ORDER BY seq"
        ).fetchall()
    return [(seq, json.loads(data)) for seq, data in rows]


def signed_log(
    workdir: Path,
    server: PageServer,
    capsys: pytest.CaptureFixture[str],
    *tsas: TimestampAuthority,
) -> Path:
    config(workdir / "sources.toml", server.url("/p"), *((t.url, t.chain) for t in tsas))
    for text in ("First.", "Second."):
        server.set("/p", page(text))
        assert run(capsys, "check")[0] == 0
        code, out, err = run(capsys, "checkpoint")
        assert code == 0, [*out, err]
        assert sum(line.startswith("time stamp by ") for line in out) == len(tsas), out
    return workdir / "monitor.db"


def test_each_checkpoint_is_stamped_by_every_tsa_and_verify_reports_them(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    tsa: TimestampAuthority,
    tsa2: TimestampAuthority,
) -> None:
    db = signed_log(workdir, page_server, capsys, tsa, tsa2)
    stamps = stamp_rows(db)
    assert len(stamps) == 4
    code, out, err = run(capsys, "verify")
    assert code == 0, [*out, err]
    assert out[2] == "ok: 4 RFC 3161 time stamps on 2 checkpoints match their checkpoints"
    seqs = sorted({int(str(data["checkpoint_seq"])) for _, data in stamps})
    assert out[3:] == [
        f"  checkpoint seq {seq}: 2 stamp(s) ({', '.join(sorted([tsa.url, tsa2.url]))})"
        for seq in seqs
    ]


def test_an_rsa_tsa_is_checked_as_well(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    rsa_tsa: TimestampAuthority,
) -> None:
    signed_log(workdir, page_server, capsys, rsa_tsa)
    code, out, err = run(capsys, "verify")
    assert code == 0, [*out, err]
    assert out[2] == "ok: 2 RFC 3161 time stamps on 2 checkpoints match their checkpoints"


def test_openssl_accepts_the_stored_token_for_the_checkpoint_bytes(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    tsa: TimestampAuthority,
) -> None:
    db = signed_log(workdir, page_server, capsys, tsa)
    _, data = stamp_rows(db)[-1]

    async def files() -> tuple[bytes, bytes]:
        async with open_store(f"sqlite:///{db}", create=False) as store:
            token = await store.get_blob(str(data["token_sha256"]))
            checkpoint = await store.get_event(int(str(data["checkpoint_seq"])))
            assert checkpoint is not None
            fields = {k: checkpoint.data[k] for k in checkpoint.data if k != "signature"}
            return token, json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    token, signed_bytes = asyncio.run(files())
    (workdir / "token.der").write_bytes(token)
    (workdir / "checkpoint.json").write_bytes(signed_bytes)
    command = [
        "openssl", "ts", "-verify", "-data", "checkpoint.json", "-in", "token.der",
        "-token_in", "-CAfile", str(tsa.files["root"]), "-untrusted", str(tsa.files["tsa_cert"]),
    ]  # fmt: skip
    ok = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    (workdir / "checkpoint.json").write_bytes(signed_bytes.replace(b'"tree', b'"Tree'))
    bad = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    assert bad.returncode != 0


def test_evidence_carries_the_stamps_of_its_checkpoint_and_openssl_accepts_them(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    tsa: TimestampAuthority,
) -> None:
    db = signed_log(workdir, page_server, capsys, tsa)
    with sqlite3.connect(db) as conn:
        (seq,) = conn.execute("SELECT seq FROM events WHERE type = 'ChangeDetected'").fetchone()
    code, out, err = run(capsys, "evidence", str(seq), "ev")
    assert code == 0, [*out, err]
    assert "1 RFC 3161 time stamp(s) of that checkpoint in timestamps/" in out
    readme = (workdir / "ev" / "README.md").read_text()
    assert f"- `timestamps/1.tsr`: {tsa.url}, " in readme
    command = [
        "openssl", "ts", "-verify", "-data", "checkpoint.json", "-in", "timestamps/1.tsr",
        "-token_in", "-CAfile", str(tsa.files["root"]), "-untrusted", str(tsa.files["tsa_cert"]),
    ]  # fmt: skip
    ok = subprocess.run(command, cwd=workdir / "ev", capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=workdir / "ev", check=False)
    assert sums.returncode == 0


def test_an_export_carries_the_tokens_and_verifies_offline(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    tsa: TimestampAuthority,
) -> None:
    db = signed_log(workdir, page_server, capsys, tsa)
    code, out, err = run(capsys, "export", "bundle")
    assert code == 0, [*out, err]
    for _, data in stamp_rows(db):
        assert (workdir / "bundle" / "blobs" / str(data["token_sha256"])).is_file()
    code, out, err = run(capsys, "verify", "--export", "bundle")
    assert code == 0, [*out, err]
    # By hand, as VERIFY.md says: OpenSSL accepts the newest token for its checkpoint file.
    _, data = stamp_rows(db)[-1]
    command = [
        "openssl", "ts", "-verify",
        "-data", f"bundle/checkpoints/{data['checkpoint_seq']}.json",
        "-in", f"bundle/blobs/{data['token_sha256']}", "-token_in",
        "-CAfile", str(tsa.files["root"]), "-untrusted", str(tsa.files["tsa_cert"]),
    ]  # fmt: skip
    ok = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr


def test_a_token_moved_to_another_checkpoint_is_caught(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    tsa: TimestampAuthority,
) -> None:
    db = signed_log(workdir, page_server, capsys, tsa)
    (_, first), (seq, data) = stamp_rows(db)
    data["checkpoint_seq"] = first["checkpoint_seq"]  # claims the older checkpoint's stamp
    with tampering(db) as conn:
        conn.execute(
            "UPDATE events SET data = ? WHERE seq = ?",
            (json.dumps(data, sort_keys=True, separators=(",", ":")), seq),
        )
        rehash_from(conn, seq)  # a forger keeps the chain consistent
    code, out, _ = run(capsys, "verify")
    assert code == 1
    assert (
        f"FAILED timestamp: seq {seq}: seq {seq}: time stamp of checkpoint seq "
        f"{first['checkpoint_seq']} by {tsa.url}: the token stamps another hash than this "
        "checkpoint's"
    ) in out


def test_a_corrupted_token_blob_is_caught(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    tsa: TimestampAuthority,
) -> None:
    db = signed_log(workdir, page_server, capsys, tsa)
    seq, data = stamp_rows(db)[-1]
    with tampering(db) as conn:
        (content,) = conn.execute(
            "SELECT content FROM blobs WHERE sha256 = ?", (data["token_sha256"],)
        ).fetchone()
        middle = len(content) // 2
        flipped = content[:middle] + bytes([content[middle] ^ 0x01]) + content[middle + 1 :]
        conn.execute(
            "UPDATE blobs SET content = ? WHERE sha256 = ?", (flipped, data["token_sha256"])
        )
    code, out, _ = run(capsys, "verify")
    assert code == 1
    assert out[0].startswith(f"FAILED blob_corrupt: seq {seq}: seq {seq}: token_sha256: ")


def test_a_token_of_a_tsa_outside_the_configured_chain_is_refused(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    tsa: TimestampAuthority,
    tsa2: TimestampAuthority,
) -> None:
    signed_log(workdir, page_server, capsys, tsa)
    # The config now claims the URL belongs to another TSA: its certificates do not match.
    config(workdir / "sources.toml", page_server.url("/p"), (tsa.url, tsa2.chain))
    code, out, _ = run(capsys, "verify")
    assert code == 1
    assert all("does not chain to the configured certificates" in line for line in out)
    assert len(out) == 2


def test_a_missing_chain_file_is_one_line_and_exit_2(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    tsa: TimestampAuthority,
) -> None:
    signed_log(workdir, page_server, capsys, tsa)
    config(workdir / "sources.toml", page_server.url("/p"), (tsa.url, workdir / "nope.pem"))
    code, _, err = run(capsys, "verify")
    assert code == 2
    assert err.strip().count("\n") == 0 and "nope.pem" in err


async def test_a_tsa_outage_is_recorded_retried_with_backoff_and_then_stamped(
    tmp_path: Path, tsa: TimestampAuthority
) -> None:
    signer = load_or_create_key(tmp_path / "monitor.key")
    settings = TsaSettings(url=tsa.url, certificates=str(tsa.chain))
    async with open_store(f"sqlite:///{tmp_path / 'm.db'}") as store:
        await Checkpointer(store, signer, journal=None).checkpoint(NOW)
        tsa.down = True
        async with Stamper(store, [settings], retry_base=0.2, retry_cap=0.4) as stamper:
            (failed,) = await stamper.stamp_pending(NOW)
            assert failed.type == "TimestampFailed" and failed.data["attempt"] == 1
            assert "HTTP 503" in str(failed.data["error"])
            assert await stamper.stamp_pending(NOW) == []  # backing off: not asked again yet
            wait = stamper.seconds_until_due()
            assert wait is not None and 0 < wait <= 0.2
            await asyncio.sleep(wait)
            (again,) = await stamper.stamp_pending(NOW)
            assert again.data["attempt"] == 2
            tsa.down = False
            await asyncio.sleep(stamper.seconds_until_due() or 0)
            (stamped,) = await stamper.stamp_pending(NOW)
            assert stamped.type == "CheckpointTimestamped"
            assert await stamper.stamp_pending(NOW) == []  # stamped once is enough
        # Nothing but stamps since: the next checkpoint is the same one.
        again_cp = await Checkpointer(store, signer, journal=None).checkpoint(NOW)
        assert again_cp.seq == stamped.data["checkpoint_seq"]
        events = await store.read(stream=TIMESTAMP_STREAM)
    model = ReadModel()
    model.apply_all(events)
    metrics = render_metrics(model, notifier_lag=0)
    assert f'monitor_timestamps_total{{outcome="failed",tsa="{tsa.url}"}} 2' in metrics
    assert f'monitor_timestamps_total{{outcome="stamped",tsa="{tsa.url}"}} 1' in metrics


async def test_the_daemon_keeps_checking_while_the_tsa_is_down(
    tmp_path: Path,
    page_server: PageServer,
    tsa: TimestampAuthority,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from monitor.config.parse import load_config
    from tests.test_daemon import running, until

    tsa.down = True
    url = page_server.set("/p", page("We have paused processing Hong Kong requests."))
    conf = tmp_path / "sources.toml"
    conf.write_text(
        f'[audit]\ntimestamp_authorities = [{{ url = "{tsa.url}", certificates = "{tsa.chain}" }}]'
        f'\n[[source]]\nid = "p"\nurl = "{url}"\ninterval = "1s"\n'
    )
    db = tmp_path / "m.db"
    daemon = Daemon(
        load_config(conf, environ={}),
        database=f"sqlite:///{db}",
        config_path=conf,
        handle_signals=False,
        poll_interval=0.1,
    )

    def types() -> list[str]:
        with sqlite3.connect(db) as conn:
            return [t for (t,) in conn.execute("SELECT type FROM events ORDER BY seq")]

    async with running(daemon):
        await until(lambda: "BaselineCaptured" in types(), seconds=10)
        page_server.set("/p", page("We have resumed processing Hong Kong requests."))
        # The change is signed promptly, and the signed checkpoint sent to the TSA.
        await until(lambda: "TimestampFailed" in types(), seconds=10)
        page_server.set("/p", page("We have paused processing Hong Kong requests again."))
        await until(lambda: types().count("ChangeDetected") == 2, seconds=10)
    assert tsa.requests >= 1 and tsa.answered == 0
    # `monitor log` shows the outage (run in a thread: the CLI starts its own event loop).
    code, out, _ = await asyncio.to_thread(
        run, capsys, "log", "--db", f"sqlite:///{db}", "--type", "TimestampFailed"
    )
    assert code == 0 and "HTTP 503" in "\n".join(out)


def test_check_token_refuses_an_altered_signature_or_tstinfo(
    rsa_tsa: TimestampAuthority,
) -> None:
    import secrets
    import urllib.request

    from monitor.audit.timestamps import (
        TimestampError,
        check_token,
        imprint_of,
        load_chain,
        request_der,
        token_from_reply,
    )

    imprint = imprint_of(b'{"tree_size":1}')
    nonce = secrets.randbits(63)
    request = urllib.request.Request(
        rsa_tsa.url,
        data=request_der(imprint, nonce),
        headers={"Content-Type": "application/timestamp-query"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        token = token_from_reply(reply.read(), imprint=imprint, nonce=nonce)
    chain = load_chain(rsa_tsa.chain.read_bytes(), where="chain")
    info = check_token(token, imprint, chain)
    assert info.signer == "CN=RSA TSA,O=Test TSA"
    # The RSA signature is the token's last bytes: one flipped bit no longer verifies.
    forged = token[:-1] + bytes([token[-1] ^ 0x01])
    with pytest.raises(TimestampError, match="signature does not verify"):
        check_token(forged, imprint, chain)
    # The time sits inside the signed TSTInfo: a year earlier breaks its digest.
    stamped = info.gen_time.strftime("%Y%m%d%H%M%S").encode()
    earlier = str(info.gen_time.year - 1).encode() + stamped[4:]
    assert token.count(stamped) == 1
    with pytest.raises(TimestampError, match="altered"):
        check_token(token.replace(stamped, earlier), imprint, chain)
