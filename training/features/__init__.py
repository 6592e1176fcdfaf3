"""Image feature extraction and the feature store (docs/formats.md section 3)."""
