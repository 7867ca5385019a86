"""VERIFY.md: the plain-words guide written into every export bundle.

It tells an auditor how to check the bundle with standard tools alone (sha256sum,
openssl, python3 without extra packages, warcio), step by step, and carries a short
program that does the hash-chain and Merkle checks. The text is fixed; only the
bundle's own facts (generator, time, scope, key id, checkpoint) are filled in.
"""

from __future__ import annotations

from typing import Any


def verify_readme(manifest: dict[str, Any]) -> str:
    """The plain-words verification guide written into every bundle."""
    if manifest["kind"] == "full":
        scope = (
            f"This is a **full export**: every event of the log from seq 1 to seq "
            f"{manifest['last_seq']}, so the hash chain can be checked link by link from "
            "the start, and every checkpoint's Merkle root recomputed."
        )
    else:
        parts = []
        if manifest.get("source"):
            parts.append(f"only the events of source `{manifest['source']}`")
        if manifest.get("since"):
            parts.append(f"only events recorded at or after {manifest['since']}")
        scope = (
            f"This is a **partial export** ({'; '.join(parts)}). The other events of the "
            "log are not included. Instead, `proofs.jsonl` holds, for every exported event, "
            "an inclusion proof showing that the event is part of the log signed in the "
            "checkpoint."
        )
    cp = manifest["checkpoint"]
    # The template names the manifest's own keys (generator, created_at, events, key_id).
    return _README.format(
        **manifest, scope=scope, cp_seq=cp["seq"], tree_size=cp["tree_size"], root=cp["root_hash"]
    )


_README = """\
# How to verify this bundle

Exported by {generator} at {created_at}. {scope}

It holds {events} events. The newest checkpoint (a signed statement about the log) is
`checkpoints/{cp_seq}.json`: it says the first {tree_size} events of the log have the
Merkle root `{root}`.

You need only standard tools: `sha256sum`, `openssl` (3.0 or later), `python3` (no
extra packages), and for the web archive `warcio` (`pip install warcio`). With
policy-monitor installed, `monitor verify --export DIR` does every step below.

## 1. Decide whether you trust the key

`public_key.pem` is an Ed25519 public key. Its key id is the sha256 of its 32 raw bytes:

    openssl pkey -pubin -in public_key.pem -outform DER | tail -c 32 | sha256sum

It must print `{key_id}`. Compare this id with one the publisher of the
bundle announced somewhere you trust (their website, a report, a signed message). Every
check below only proves that *the holder of this key* made these statements.

## 2. Check that no file changed after the export

`manifest.json` lists the sha256 of every other file; `manifest.sig` is the key's
signature over `manifest.json`:

    openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin \\
        -in manifest.json -sigfile manifest.sig
    python3 -c 'import json; [print(h + "  " + f) for f, h in \\
        json.load(open("manifest.json"))["files"].items()]' | sha256sum -c -

Every line must say `OK`, and no file may be present that the manifest does not list.

## 3. Check the captured content (blobs)

Each file in `blobs/` is named by the sha256 of its content: the exact bytes a server
sent (`raw_sha256` in an event) or the normalized text the monitor compared
(`text_sha256`).

    cd blobs && for f in *; do echo "$f  $f"; done | sha256sum -c -

## 4. Check the events (the hash chain)

Each line of `events.jsonl` is one event. Its `hash` is

    sha256( prev_hash as 32 raw bytes  ||  canonical JSON of
            {{seq, event_id, stream, version, type, schema, recorded_at, data}} )

where canonical JSON means: keys sorted at every level, no spaces, UTF-8 (characters
not escaped), and integers only. In a full export the first `prev_hash` is 64 zeros
and every other `prev_hash` equals the `hash` of the line before; `seq` runs 1, 2, 3 ….
An edited, deleted, inserted or reordered event breaks this.

## 5. Check the checkpoints

`checkpoints/N.json` is exactly the bytes that were signed, `checkpoints/N.sig` the raw
signature (N is the seq of the checkpoint's own event in the log):

    openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin \\
        -in checkpoints/{cp_seq}.json -sigfile checkpoints/{cp_seq}.sig

The Merkle root follows RFC 9162 (Certificate Transparency), section 2.1. The leaves
are the events in seq order; a leaf's hash is sha256(0x00 || the event's hash as 32
raw bytes); an inner node is sha256(0x01 || left || right); a list of n > 1 leaves is
split after the largest power of two smaller than n. In a full export, recompute the
root of the first `tree_size` events and compare it with `root_hash`. In a partial
export, each line of `proofs.jsonl` gives the `audit_path` of one event; fold it from
the event's leaf hash as RFC 9162 section 2.1.3.2 says and compare with `root_hash`.

This program does steps 3 to 5 with nothing but Python's standard library (run it in
the bundle directory; it prints `ok` or the first problem):

```python
import hashlib, json, os

def H(b): return hashlib.sha256(b).digest()
def leaf(event_hash): return H(b"\\x00" + bytes.fromhex(event_hash))
def node(l, r): return H(b"\\x01" + l + r)
def mth(leaves):
    if not leaves: return H(b"")
    if len(leaves) == 1: return leaves[0]
    k = 1
    while k * 2 < len(leaves): k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))
def root_from_path(h, index, size, path):
    fn, sn, r = index, size - 1, h
    for p in path:
        if sn == 0: return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return r if sn == 0 else None

for name in os.listdir("blobs"):
    assert hashlib.sha256(open("blobs/" + name, "rb").read()).hexdigest() == name, name
events = [json.loads(line) for line in open("events.jsonl", encoding="utf-8")]
for e in events:
    body = {{k: e[k] for k in ("seq", "event_id", "stream", "version", "type", "schema",
                              "recorded_at", "data")}}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(bytes.fromhex(e["prev_hash"]) + canon.encode()).hexdigest() \\
        == e["hash"], ("event edited", e["seq"])
manifest = json.load(open("manifest.json"))
cp = json.load(open("checkpoints/%d.json" % manifest["checkpoint"]["seq"]))
if manifest["kind"] == "full":
    prev = "0" * 64
    for n, e in enumerate(events, 1):
        assert e["seq"] == n and e["prev_hash"] == prev, ("chain broken", n)
        prev = e["hash"]
    root = mth([leaf(e["hash"]) for e in events[:cp["tree_size"]]])
    assert root.hex() == cp["root_hash"], "log differs from the checkpoint"
else:
    proofs = {{p["seq"]: p for p in map(json.loads, open("proofs.jsonl"))}}
    for e in events:
        p = proofs[e["seq"]]
        path = [bytes.fromhex(x) for x in p["audit_path"]]
        r = root_from_path(leaf(e["hash"]), e["seq"] - 1, cp["tree_size"], path)
        assert r is not None and r.hex() == cp["root_hash"], ("not in the log", e["seq"])
print("ok")
```

## 6. Check the web archive

`captures.warc.gz` holds every captured HTTP response as a WARC 1.1 `response` record:
the original status line, the response headers the monitor kept, and the exact body
(the same bytes as `blobs/<sha256>`, named in `WARC-Payload-Digest: sha256:<hex>`).
Bodies were stored decoded, so `Content-Encoding` and the original `Content-Length`
appear as `X-Archive-Orig-Content-Encoding` / `X-Archive-Orig-Content-Length`. A body
identical to an earlier one is a `revisit` record (identical-payload-digest profile)
that points at the first. Each capture has a `metadata` record with the event's seq
and hash, which ties the archive to `events.jsonl`.

    warcio check -v captures.warc.gz
    warcio index -f warc-type,warc-target-uri,warc-date,warc-payload-digest captures.warc.gz

Any WARC replay tool (pywb, ReplayWeb.page) can display the pages.

## 7. Trusted time stamps and outside copies (when present)

A `CheckpointTimestamped` line in `events.jsonl` records an RFC 3161 time stamp: an
independent time-stamping authority (`tsa`) signed that checkpoint `checkpoint_seq`
existed at `gen_time`. The token is `blobs/<token_sha256>`; check it with the TSA's
published certificates:

    openssl ts -verify -data checkpoints/<checkpoint_seq>.json \\
        -in blobs/<token_sha256> -token_in -CAfile tsa-root.pem -untrusted tsa-chain.pem

A `ThirdPartyCaptured` line gives the Internet Archive's own copy of a changed page
(`archive_url`), made by its crawler, which anyone can open. A capture's
`capture.server.certificate.sha256` names the server's TLS certificate in `blobs/`:
`openssl x509 -inform DER -in blobs/<sha256> -noout -text` shows it.
"""
