"""The reading stage: whole numbers (segmentation, printed forms, CTC decoding, overlays)."""
