"""The evidence bundle of a delivery: every proof, the delivered documents, the seal chain, and
a README whose commands check them with public tools (they are run by the tests)."""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import defer

from tabellion.document.storage import read_blob
from tabellion.evidence.content import (
    BODY_FILE,
    BODY_SUBMITTED_FILE,
    BODY_TEXT_FILE,
    SUBJECT_FILE,
)
from tabellion.evidence.events import EvidenceType
from tabellion.evidence.proofs import ProofExpired, proof_document, render_pdf
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.transparency.log import dumps
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Delivery, Message, Reply

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

README = """Evidence bundle of delivery {delivery_id}
==========================================

This archive holds every proof of the delivery, the documents that were delivered, and the
certificate chain of the seal that signed the proofs.{self_issued}

  evidence/<id>.json   the JSON proofs: a JWS (RFC 7515, JSON serialization) whose payload is
                       the evidence content in RFC 8785 canonical JSON
  evidence/<id>.pdf    the same facts as a PDF, sealed PAdES; it embeds the JSON proof
  documents/           the delivered files; their SHA-256 digests are in every proof
  replies/<reply id>/  the files attached to a reply (secure messages): the recipient's, whose
                       SHA-256 digests are in that reply's REPLIED proof (details.attachments),
                       and the sender's, in its SENDER_REPLIED proof
  content/             the subject and bodies, the exact bytes (UTF-8) the proofs' digests are
                       computed over: subject.txt, body-submitted.html (the HTML body as the
                       sender submitted it), body.html (as sanitised and shown to the
                       recipient), body.txt (its plain-text alternative)
  seal-chain.pem       the seal certificate, then its issuers up to the root
  root-ca.pem          the last certificate of seal-chain.pem: the root the proofs lead to

Check them with public tools (run the commands in this directory):

1. The root. Compare its fingerprint with the one the service publishes (or your own copy):
     openssl x509 -in root-ca.pem -noout -fingerprint -sha256
   and check that the seal certificate chains to it (RFC 5280: CA flags, path lengths,
   key usages and validity are checked, today's date by default; add `-attime <epoch seconds
   of the event>` for the event's):
     openssl verify -x509_strict -CAfile root-ca.pem -untrusted seal-chain.pem seal-chain.pem

2. PDF proofs: any PDF reader shows the seal; with poppler-utils:
     pdfsig evidence/<id>.pdf
   must say "Signature is Valid." and "Total document signed" (with a timestamp authority,
   the signature also carries its RFC 3161 timestamp, PAdES B-T).

3. JSON proofs: any JWS library verifies the signature with the public key of the first
   certificate of the protected `x5c` header, which must be the first of seal-chain.pem.
   The proof's hash is the SHA-256 of the decoded payload:
     {digest_command} evidence/<id>.json

4. Timestamps: when `header.tabellion_timestamp_status` is `stamped`,
   `header.tabellion_timestamp` is an RFC 3161 token (base64 DER) over that hash:
     jq -r .header.tabellion_timestamp evidence/<id>.json | base64 -d > token.der
     openssl ts -verify -token_in -in token.der -digest <the hash> -CAfile <your TSA's root>
   must say "Verification: OK". `awaiting` means the authority had not answered yet (the
   proof is valid; download it again later for its token).

5. Documents, subject and bodies: compare these digests with `content` in a proof (each part
   names its media type, its digest algorithm and, for the subject and bodies, its file here;
   proofs of format 1 hold `subject_sha256` and `body_sha256`, the latter over body.html):
     sha256sum documents/* content/*
   and the same way the replies' files (`sha256sum replies/*/*`, when there are any) with
   `details.attachments` in their REPLIED (recipient) or SENDER_REPLIED (sender) proofs.

6. Everything at once: `tabellion verify --trust root-ca.pem --trust-tsa <your TSA's root>
   FILE` (an RFC 5280 path check of the seal at the event's time, the timestamp's authority
   against its own roots, its time just after the event), or the page {verify_url}.
   A delivered document with its proof: `tabellion verify documents/<name> --proof FILE`.
"""

DIGEST_COMMAND = (
    'python3 -c \'import base64,hashlib,json,sys; p=json.load(open(sys.argv[1]))["payload"]; '
    'print(hashlib.sha256(base64.urlsafe_b64decode(p+"==")).hexdigest())\''
)

SELF_ISSUED_NOTE = """

WARNING: this service seals with a SELF-ISSUED certificate: root-ca.pem was generated by the
service itself. The proofs are only as trustworthy as the copy of that root you compare with."""


PURGED_NOTE = """The content of this message (its bodies, files and replies) was deleted on {at}
at the end of its retention period, or by an erasure (docs/data.md). The proofs in evidence/
still hold the SHA-256 of every part: a copy kept elsewhere can be checked against them.
"""


def readme(runtime: Runtime, delivery_id: str) -> str:
    seal = load_seal(runtime.settings)
    return README.format(
        delivery_id=delivery_id,
        verify_url=runtime.settings.base_url + "/verify",
        self_issued=SELF_ISSUED_NOTE if seal.self_issued else "",
        digest_command=DIGEST_COMMAND,
    )


async def build_bundle(runtime: Runtime, delivery: Delivery) -> bytes:
    """The zip of one delivery (the caller checked who may read it).

    Opens short transactions of its own (rendering writes in its own): call it with no
    request transaction open. Raises ``TimestampAuthorityUnavailable`` when a PDF cannot get
    its timestamps.
    """
    await seal_pending(runtime)
    async with runtime.sessions() as reader:
        ids = list(
            await reader.scalars(
                select(Evidence.id).where(Evidence.delivery_id == delivery.id).order_by(Evidence.id)
            )
        )
        # Not the recipient list (1.4 MB of JSON for 10,000 recipients).
        message = await reader.scalar(
            select(Message)
            .options(defer(Message.recipients, raiseload=True))
            .where(Message.id == delivery.message_id)
        )
        assert message is not None
        if message.proofs_expired_at is not None:
            raise ProofExpired(
                f"The proofs of delivery {delivery.id} were deleted at the end of their "
                "retention period; their hashes stay in the chain and the transparency log."
            )
        attachments = list(
            await reader.scalars(
                select(Attachment)
                .where(Attachment.message_id == delivery.message_id)
                .order_by(Attachment.created_at, Attachment.id)
            )
        )
        # Replies' files, either side's, when a proof holds their digests: REPLIED for the
        # recipient's, SENDER_REPLIED for the sender's (answers before December 2026 had none).
        proven = {
            str((details or {}).get("reply_id"))
            for details in await reader.scalars(
                select(Evidence.details).where(
                    Evidence.delivery_id == delivery.id,
                    Evidence.type.in_((EvidenceType.REPLIED, EvidenceType.SENDER_REPLIED)),
                )
            )
        }
        replies = [
            reply
            for reply in await reader.scalars(
                select(Reply)
                .where(Reply.delivery_id == delivery.id)
                .order_by(Reply.created_at, Reply.id)
            )
            if reply.id in proven
        ]
    pdf_keys = {evidence_id: await render_pdf(runtime, evidence_id) for evidence_id in ids}
    seal = load_seal(runtime.settings)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        async with runtime.sessions() as reader:
            for evidence_id in ids:
                evidence = await reader.get(Evidence, evidence_id)
                assert evidence is not None
                document = await proof_document(reader, evidence)
                archive.writestr(f"evidence/{evidence_id}.json", dumps(document))
        for evidence_id, key in pdf_keys.items():
            if key:
                archive.writestr(
                    f"evidence/{evidence_id}.pdf", await read_blob(runtime.storage, key)
                )
        used: set[str] = set()
        for attachment in attachments:
            if attachment.purged_at is not None:
                continue  # deleted at the end of its retention: its proofs hold its digest
            name = attachment.filename
            if name in used:
                name = f"{attachment.id}-{name}"
            used.add(name)
            archive.writestr(
                f"documents/{name}", await read_blob(runtime.storage, attachment.storage_key)
            )
        for reply in replies:
            taken: set[str] = set()
            for item in reply.attachments or []:
                if "storage_key" not in item:
                    continue  # purged
                name = item["filename"]
                if name in taken:
                    name = f"{item['id']}-{name}"
                taken.add(name)
                data = await read_blob(runtime.storage, item["storage_key"])
                archive.writestr(f"replies/{reply.id}/{name}", data)
        if message.content_purged_at is None:
            for name, text in content_files(message).items():
                archive.writestr(name, text.encode("utf-8"))
        else:
            archive.writestr(SUBJECT_FILE, message.subject.encode("utf-8"))
            archive.writestr("content/PURGED.txt", PURGED_NOTE.format(at=message.content_purged_at))
        archive.writestr("seal-chain.pem", seal.chain_pem())
        archive.writestr("root-ca.pem", seal.root.public_bytes(serialization.Encoding.PEM))
        archive.writestr("README.txt", readme(runtime, delivery.id))
    return buffer.getvalue()


def content_files(message: Message) -> dict[str, str]:
    """The subject and bodies under the names the proofs give them."""
    files = {SUBJECT_FILE: message.subject}
    if message.body_submitted is not None:
        files[BODY_SUBMITTED_FILE] = message.body_submitted
    files[BODY_FILE] = message.body_html
    files[BODY_TEXT_FILE] = message.body_text
    return files
