"""The serving stage: ``mnistcnn serve``'s HTTP API and page."""
