"""Evidence API: proofs (JSON and PDF), the delivery bundle, the transparency log, verify."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.auth.dependencies import MessagesRead, _bearer, api_key_subject
from tabellion.auth.subjects import InsufficientScope
from tabellion.db import DbSession, SessionRoute, end_read_phase
from tabellion.document.multipart import BINARY, multipart_body_doc
from tabellion.document.storage import StoredFileUnavailable
from tabellion.errors import (
    NotFound,
    Unauthorized,
    ValidationFailed,
    responses,
)
from tabellion.evidence import links
from tabellion.evidence.proofs import (
    EvidenceNotFound,
    ProofExpired,
    RevocationDataUnavailable,
    TimestampAuthorityUnavailable,
    check_not_expired,
    pdf_key_of,
    proof_document,
    sealed,
)
from tabellion.evidence.rendering import bundle
from tabellion.evidence.schemas import ConsistencyOut, TreeHeadOut, VerifyOut
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.transparency import checkpoint, log
from tabellion.evidence.verification.service import (
    MAX_VERIFY_BYTES,
    VerifyFileTooLarge,
    classify,
    read_upload,
)
from tabellion.kit import metrics
from tabellion.kit.ratelimit import RateLimited, rate_limited
from tabellion.message import repository
from tabellion.message.service.message import DeliveryNotFound
from tabellion.models.evidence import Evidence, TreeHead
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime

router = APIRouter(route_class=SessionRoute, tags=["evidence"])
# Tree sizes are BIGINT columns: a larger number is refused (422), not sent to the database.
MAX_TREE_SIZE = 2**63 - 1
PROOF_MEDIA_TYPE = "application/json"


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _authorised(
    request: Request, session: AsyncSession, evidence_id: str, kind: str
) -> Evidence:
    """By signed link (no key needed) or by an API key that may read the delivery."""
    expires = request.query_params.get("expires")
    signature = request.query_params.get("signature")
    if expires is not None or signature is not None:
        signer = links.current()
        if signer is None:
            raise Unauthorized("Signed links are not enabled.")
        signer.check(kind, evidence_id, expires or "", signature or "")
        evidence = await session.get(Evidence, evidence_id)
        if evidence is None:
            raise EvidenceNotFound(f"No evidence {evidence_id}.")
        check_not_expired(evidence)
        return evidence
    credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
    subject = await api_key_subject(request, session, credentials)
    subject.require("messages:read")
    # A delivery's evidence, or an envelope's or the data's (a legal hold, a purge, an
    # erasure): those have no submitting organisation.
    evidence = await session.scalar(
        select(Evidence)
        .outerjoin(Delivery, Delivery.id == Evidence.delivery_id)
        .where(
            Evidence.id == evidence_id,
            or_(
                repository.readable_deliveries(subject.organization_id),
                and_(
                    Evidence.delivery_id.is_(None),
                    Evidence.organization_id == subject.organization_id,
                ),
            ),
        )
    )
    if evidence is None:
        raise EvidenceNotFound(f"No evidence {evidence_id}.")
    check_not_expired(evidence)
    return evidence


LINK_PARAMS = links.LINK_PARAMS


@router.get(
    "/evidence/{evidence_id}",
    summary="The sealed JSON proof (JWS, RFC 7515 JSON serialization)",
    description=(
        "Authenticate with an API key, or use the signed `json_url` of the delivery (valid 24 "
        "hours; then 410 `link-expired`). The JWS payload is the evidence content in RFC 8785 "
        "canonical JSON; the unprotected header carries the timestamp status (`none`, "
        "`awaiting`, `stamped`), the RFC 3161 token over the proof's hash (SHA-256 of the "
        "payload; base64 DER, once stamped) and the inclusion proof in the latest signed tree "
        "head of the transparency log."
    ),
    responses=responses(
        Unauthorized,
        InsufficientScope,
        EvidenceNotFound,
        ProofExpired,
        links.LinkExpired,
        links.LinkInvalid,
    ),
)
async def get_evidence_json(
    evidence_id: str,
    request: Request,
    session: DbSession,
    expires: Annotated[str | None, Query(description=LINK_PARAMS["expires"])] = None,
    signature: Annotated[str | None, Query(description=LINK_PARAMS["signature"])] = None,
) -> Response:
    evidence = await _authorised(request, session, evidence_id, "json")
    if evidence.sealed_at is None:
        await end_read_phase(session)
        evidence = await sealed(_runtime(request), session, evidence)
    document = await proof_document(session, evidence)
    return Response(
        log.dumps(document),
        media_type=PROOF_MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{evidence_id}.json"'},
    )


@router.get(
    "/evidence/{evidence_id}/pdf",
    summary="The sealed PDF proof (PAdES)",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The sealed PDF"},
        **responses(
            Unauthorized,
            InsufficientScope,
            EvidenceNotFound,
            ProofExpired,
            links.LinkExpired,
            links.LinkInvalid,
            TimestampAuthorityUnavailable,
            RevocationDataUnavailable,
            StoredFileUnavailable,
        ),
    },
)
async def get_evidence_pdf(
    evidence_id: str,
    request: Request,
    session: DbSession,
    expires: Annotated[str | None, Query(description=LINK_PARAMS["expires"])] = None,
    signature: Annotated[str | None, Query(description=LINK_PARAMS["signature"])] = None,
) -> Response:
    evidence = await _authorised(request, session, evidence_id, "pdf")
    return await pdf_response(_runtime(request), session, evidence, f"{evidence_id}.pdf")


async def pdf_response(
    runtime: Runtime, session: AsyncSession, evidence: Evidence, filename: str
) -> StreamingResponse:
    """The sealed PDF of an evidence the caller may read (rendered first if need be)."""
    key = await pdf_key_of(runtime, session, evidence)
    if not await runtime.storage.exists(key):
        # Streamed, a missing file would fail after the 200 went out.
        metrics.stored_file_unavailable("missing")
        raise StoredFileUnavailable(f"The PDF of evidence {evidence.id} is unavailable.")
    return StreamingResponse(
        runtime.storage.open(key),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get(
    "/deliveries/{delivery_id}/evidence.zip",
    summary="Every proof of a delivery, its documents and the seal chain, as one zip",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The bundle"},
        **responses(
            Unauthorized,
            InsufficientScope,
            DeliveryNotFound,
            ProofExpired,
            TimestampAuthorityUnavailable,
            RevocationDataUnavailable,
            StoredFileUnavailable,
        ),
    },
)
async def evidence_bundle(
    delivery_id: str, caller: MessagesRead, request: Request, session: DbSession
) -> Response:
    runtime = _runtime(request)
    delivery = await repository.get_delivery(session, caller.organization_id, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(f"No delivery {delivery_id}.")
    await end_read_phase(session)
    # From here on, short transactions of the bundle's own: rendering writes in its own.
    data = await bundle.build_bundle(runtime, delivery)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{delivery.id}-evidence.zip"'},
    )


# ---- transparency log --------------------------------------------------------------------------
class NoTreeHead(NotFound):
    code = "tree-head-not-found"
    title = "No such signed tree head"


@router.get(
    "/transparency/tree-head",
    response_model=TreeHeadOut,
    summary="The latest signed tree head of the evidence transparency log (no auth)",
    responses=responses(NoTreeHead),
)
async def get_tree_head(
    request: Request,
    session: DbSession,
    tree_size: Annotated[
        int | None, Query(ge=1, le=MAX_TREE_SIZE, description="A published head, by size.")
    ] = None,
) -> TreeHeadOut:
    head: TreeHead | None
    if tree_size is None:
        head = await log.latest_tree_head(session)
    else:
        head = await session.get(TreeHead, tree_size)
    if head is None:
        raise NoTreeHead(
            "No tree head is published yet."
            if tree_size is None
            else f"No head of size {tree_size}."
        )
    out = log.tree_head_out(head)
    return TreeHeadOut(
        **out.as_dict(), self_issued_seal=load_seal(_runtime(request).settings).self_issued
    )


@router.get(
    "/transparency/checkpoint",
    response_class=Response,
    summary="The latest tree head as a C2SP signed-note checkpoint (tlog-checkpoint; no auth)",
    description="Text: origin, tree size, base64 root hash, then an Ed25519 signature line "
    "(signed-note). Its verifier key is at `/v1/transparency/checkpoint/key`.",
    responses={200: {"content": {"text/plain": {}}}, **responses(NoTreeHead)},
)
async def get_checkpoint(request: Request, session: DbSession) -> Response:
    head = await log.latest_tree_head(session)
    if head is None:
        raise NoTreeHead("No tree head is published yet.")
    note = checkpoint.checkpoint(
        _runtime(request).settings, head.tree_size, bytes.fromhex(head.root_hash)
    )
    return Response(note, media_type=checkpoint.MEDIA_TYPE)


@router.get(
    "/transparency/checkpoint/key",
    response_class=Response,
    summary="The signed-note verifier key of the checkpoints (no auth)",
    responses={200: {"content": {"text/plain": {}}}},
)
async def get_checkpoint_key(request: Request) -> Response:
    key = checkpoint.verifier_key(_runtime(request).settings)
    return Response(key + "\n", media_type=checkpoint.MEDIA_TYPE)


@router.get(
    "/transparency/consistency",
    response_model=ConsistencyOut,
    summary="Proof that an older tree head is a prefix of a newer one (no auth)",
    responses=responses(NoTreeHead),
)
async def get_consistency(
    session: DbSession,
    first: Annotated[int, Query(alias="from", ge=1, le=MAX_TREE_SIZE)],
    second: Annotated[int, Query(alias="to", ge=1, le=MAX_TREE_SIZE)],
) -> ConsistencyOut:
    if first > second:
        raise ValidationFailed.field("from", "`from` must not be larger than `to`.")
    head = await log.latest_tree_head(session)
    if head is None or second > head.tree_size:
        raise NoTreeHead(f"No published tree head covers {second} leaves.")
    proof = await log.consistency_proof(session, first, second)
    return ConsistencyOut(first=first, second=second, proof=log.proof_hashes(proof))


@router.get(
    "/transparency/inclusion",
    summary="Inclusion proof of an evidence hash in a published tree head (no auth)",
    responses=responses(NoTreeHead, EvidenceNotFound),
)
async def get_inclusion(
    session: DbSession,
    hash: Annotated[
        str,
        Query(
            min_length=64,
            max_length=64,
            pattern="^[0-9a-fA-F]{64}$",
            description="Hex evidence hash.",
        ),
    ],
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_TREE_SIZE)] = None,
) -> JSONResponse:
    evidence = await session.scalar(select(Evidence).where(Evidence.hash == hash.lower()))
    if evidence is None or evidence.leaf_index is None:
        raise EvidenceNotFound("No evidence with this hash is in the log.")
    head = (
        await session.get(TreeHead, tree_size) if tree_size else await log.latest_tree_head(session)
    )
    if head is None or head.tree_size <= evidence.leaf_index:
        raise NoTreeHead("No published tree head includes this evidence yet.")
    path = await log.inclusion_proof(session, evidence.leaf_index, head.tree_size)
    body: dict[str, Any] = log.inclusion_header(evidence.leaf_index, head, path)
    return JSONResponse(body)


# ---- verification ----------------------------------------------------------------------------
@router.post(
    "/verify",
    response_model=VerifyOut,
    summary="Is this file an authentic Tabellion proof, or a document Tabellion delivered?",
    description="No auth needed (multipart field `file`). An unknown file answers "
    "`not-found`, not an error. With the owning organisation's API key the full facts are "
    "returned.",
    responses=responses(VerifyFileTooLarge, RateLimited),
    dependencies=[Depends(rate_limited("verify"))],
    # Read as a stream by the handler, so described here for the document.
    openapi_extra=multipart_body_doc({"file": BINARY}, ["file"]),
)
async def verify_file(request: Request, session: DbSession) -> VerifyOut:
    data = await read_upload(request, MAX_VERIFY_BYTES)
    caller = await _caller_org(request, session)
    return VerifyOut(**await classify(session, _runtime(request), data, caller))


async def _caller_org(request: Request, session: AsyncSession) -> str | None:
    """The organisation of an API key sent along (it sees the whole content), else None."""
    if not request.headers.get("authorization"):
        return None
    subject = await api_key_subject(request, session, await _bearer(request))
    return subject.organization_id
