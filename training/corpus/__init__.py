"""Corpus readers, cleaning and the prepared-corpus shard format (docs/formats.md section 2)."""
