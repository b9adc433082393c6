"""The models stage: network architectures by name, and the weights shipped with the package."""
