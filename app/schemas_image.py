"""Request and response bodies of `POST /v1/related/image` (app/routes/image.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import Hit, ServedBy

MAX_FEATURE_VALUES = 65_536


class ImageFeaturesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[float] = Field(
        min_length=1,
        max_length=MAX_FEATURE_VALUES,
        description="The image's CNN features, computed as the served model's features were (its "
        "`image.features` backbone and preprocessing, e.g. 1,280 EfficientNet-Lite0 values).",
    )


class WordScore(BaseModel):
    word: str = Field(description="A vocabulary word (stopwords left out).")
    score: float = Field(
        description="words=caption: its probability summed over the greedy caption's steps; words=first: its "
        "probability as the first word of a caption of the image."
    )


class ImageRelatedResponse(BaseModel):
    results: list[Hit] = Field(
        description="Phrases nearest (cosine) to the image's predicted caption embedding (`score`: cosine)."
    )
    words: list[WordScore] = Field(description="The most probable first words of a caption, best first.")
    caption: str = Field(description="The model's greedy caption of the image (what `results` are near).")
    source: str = Field(description="`upload` (the service ran the CNN) or `features` (sent by the caller).")
    backbone: str | None = Field(description="The CNN the model's features come from.")
    served_by: ServedBy
