"""The plotting stage: figures (matplotlib) and pictures (Pillow)."""
