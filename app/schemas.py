"""Typed request/response bodies (pydantic v2). Every route returns one of these."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Hit(BaseModel):
    phrase: str = Field(description="A related phrase from the index (normalised).")
    score: float = Field(description="Cosine similarity to the query phrase, in [-1, 1].")
    count: int = Field(description="How often the phrase occurred in the corpus it was mined from.")


class ServedBy(BaseModel):
    model_kind: str = Field(description="Which model produced the embeddings (word2vec, text, a, ...).")
    embeddings_sha256: str | None = Field(description="Checksum of the embeddings manifest.")
    index: str = Field(description="Index directory name.")
    factory: str = Field(description="FAISS factory string of the index.")


class RelatedResponse(BaseModel):
    query: str = Field(description="The query as sent.")
    normalized: str = Field(description="The query after normalisation (lowercase, alphanumeric words).")
    results: list[Hit]
    oov: list[str] = Field(description="Query words the model does not know (ignored for the query vector).")
    served_by: ServedBy


class Health(BaseModel):
    status: str = "ok"
