"""The formats stage: model files on disk (naming, metadata, saving, loading, atomic writes)."""
