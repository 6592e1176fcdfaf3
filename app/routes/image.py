"""`POST /v1/related/image`: words and phrases for an image, from Model A's image-conditioned first step.

Two request forms:

    curl -F image=@photo.jpg 'http://127.0.0.1:8000/v1/related/image?k=10'       # multipart upload
    curl -H 'Content-Type: application/json' -d '{"features": [0.1, ...]}' http://127.0.0.1:8000/v1/related/image

The model part runs in numpy (index.image_model); the CNN for uploads only with the `image` extra
(app/image_upload.py). The served embeddings must carry an image part (format version 2 of a Model A or
A-noshare artifact), else 422.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from app.deps import SearcherDep, SettingsDep
from app.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.image_upload import image_features
from app.routes.related import served_by
from app.schemas import Hit
from app.schemas_image import ImageFeaturesRequest, ImageRelatedResponse, WordScore
from index.errors import ArtifactError, QueryError
from index.image_model import ImageModel
from index.image_suggest import suggest
from index.ranking import Ranking
from index.search import PhraseSearcher

router = APIRouter(prefix="/v1", tags=["related"])

MODELS: weakref.WeakKeyDictionary[PhraseSearcher, ImageModel] = weakref.WeakKeyDictionary()

_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"image": {"type": "string", "format": "binary", "description": "JPEG or PNG"}},
                "required": ["image"],
            }
        },
        "application/json": {"schema": {"$ref": "#/components/schemas/ImageFeaturesRequest"}},
    },
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "k above MMWE_MAX_K."},
    409: {
        "description": "The model's features come from another backbone or preprocessing than the service's."
    },
    413: {"description": "Upload above MMWE_MAX_IMAGE_BYTES, or more pixels than MMWE_MAX_IMAGE_PIXELS."},
    415: {"description": "Neither multipart/form-data nor JSON, or the upload is not a JPEG/PNG image."},
    422: {"description": "Truncated/corrupt image, wrong feature dimension, or a model without image part."},
    501: {"description": "Upload without the optional `image` extra (torch + backbone); `features` works."},
    503: {"description": "No index is loaded."},
}


def image_model(searcher: PhraseSearcher) -> ImageModel:
    """The served embeddings' image part, loaded once per index; 422 when there is none."""
    model = MODELS.get(searcher)
    if model is None:
        try:
            model = MODELS[searcher] = ImageModel.from_embeddings(searcher.embeddings)
        except ArtifactError as exc:
            raise Unprocessable(f"the served model cannot describe images: {exc.reason}") from exc
    return model


async def _upload(request: Request, max_bytes: int) -> bytes:
    form = await request.form(max_files=1, max_fields=4)
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise Unprocessable("multipart body needs a file field named 'image' (curl -F image=@photo.jpg)")
    data = await upload.read(max_bytes + 1)
    await form.close()
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"image larger than {max_bytes} bytes (MMWE_MAX_IMAGE_BYTES)")
    return data


@router.post(
    "/related/image",
    response_model=ImageRelatedResponse,
    summary="Words and phrases for an image (upload or CNN features)",
    responses=ERRORS,
    openapi_extra={"requestBody": _BODY},
)
async def related_image(
    request: Request,
    searcher: SearcherDep,
    settings: SettingsDep,
    k: Annotated[int, Query(ge=1, le=1000, description="How many words and phrases.")] = 10,
    words: Annotated[
        Literal["caption", "first"],
        Query(description="Rank words by their mass over the greedy caption (default) or as its first word."),
    ] = "caption",
) -> ImageRelatedResponse:
    """`multipart/form-data` with a JPEG/PNG file field `image` (the service runs the CNN), or JSON
    `{"features": [...]}` with the CNN features. Answers the words most probable in the model's caption of
    the image and the phrases nearest to that caption's embedding (docs/image.md)."""
    if k > settings.max_k:
        raise BadRequest(f"k={k} is above MMWE_MAX_K ({settings.max_k})")
    model = image_model(searcher)
    identity = model.description.get("features") or {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        data = await _upload(request, settings.max_image_bytes)
        features: Any = await asyncio.to_thread(image_features, data, identity, settings.max_image_pixels)
        source = "upload"
    elif content_type == "application/json":
        try:
            body = ImageFeaturesRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from exc
        features, source = body.features, "features"
    else:
        raise UnsupportedMediaType("send multipart/form-data (field 'image') or JSON {\"features\": [...]}")
    try:
        x = model.check_features(features)
    except QueryError as exc:
        raise Unprocessable(str(exc), detail={"feature_dim": model.feature_dim}) from exc
    top, vectors, captions = await asyncio.to_thread(suggest, model, x, k, words_by=words)
    ranking: Ranking = request.app.state.ranking
    hits = (
        await asyncio.to_thread(searcher.nearest, vectors[0], k, ranking=ranking) if vectors[0].any() else []
    )
    if ranking.denylist is not None:  # the suggested words pass the same safety list as the phrases
        top = [[(w, p) for w, p in row if not ranking.denylist.blocks_text(w)] for row in top]
    return ImageRelatedResponse(
        results=[Hit(phrase=h.phrase, score=h.score, count=h.count) for h in hits],
        words=[WordScore(word=w, score=p) for w, p in top[0]],
        caption=" ".join(captions[0]),
        source=source,
        backbone=identity.get("backbone"),
        served_by=served_by(searcher),
    )
