"""Pydantic models of the evidence API: tree heads, consistency proofs, verify answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TreeHeadOut(BaseModel):
    tree_size: int
    root_hash: str = Field(description="Hex SHA-256 root (RFC 9162 Merkle tree hash).")
    issued_at: str
    signature: str = Field(description="Compact JWS over the head, sealed like the proofs.")
    self_issued_seal: bool


class ConsistencyOut(BaseModel):
    first: int
    second: int
    proof: list[str] = Field(description="Base64url node hashes, RFC 9162 section 2.1.4.")


class TimestampOut(BaseModel):
    covers: str = Field(
        description="`proof`: the RFC 3161 token over the JSON proof's hash (SHA-256 of its "
        "canonical content); `pdf-seal`: the signature timestamp of a PDF proof (PAdES B-T)."
    )
    status: str = Field(description="`stamped`, or `awaiting` the authority's token.")
    gen_time: str | None = Field(default=None, description="The authority's time (genTime).")
    authority: str | None = Field(
        default=None, description="Subject of the time-stamping authority's certificate."
    )
    trusted: bool | None = Field(
        default=None,
        description="Whether the authority's certificate has a valid path to a trusted "
        "time-stamping root (this service's: TABELLION_TSA_TRUST_FILE) at its time, and the "
        "time falls just after the event's. False makes the proof `tampered`.",
    )
    token_sha256: str | None = Field(default=None, description="SHA-256 of the token (DER).")


class VerifyOut(BaseModel):
    result: str = Field(
        description="`authentic`, `tampered` (a proof that fails a check), `resealed-copy` (a "
        "proof sealed with this service's key over content, or at a place in the chain or "
        "log, other than what it recorded), `delivered-document` (a file this service "
        "delivered), `signed-document` (a signed envelope PDF: its seal is valid and `facts` "
        "name its envelope, signers, completion time and evidence), `sealed-unrecorded` (a PDF "
        "this service sealed but holds no record of) or `not-found`."
    )
    kind: str
    evidence_id: str | None = None
    checks: list[str] = []
    problems: list[str] = []
    warnings: list[str] = Field(
        default=[],
        description="What the proof lacks or what limits it (no timestamp, no log proof, a "
        "self-issued seal); the result stands.",
    )
    facts: dict[str, Any] | None = Field(
        default=None,
        description="Without a key: type, time and ids only. With the owning organisation's "
        "API key: the whole evidence content.",
    )
    timestamps: list[TimestampOut] = []
    self_issued_seal: bool = Field(
        default=False,
        description="The seal's certificate comes from the service's own generated root, not "
        "a trust service: authentic only for whoever trusts that root.",
    )
