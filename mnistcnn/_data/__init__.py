"""The data stage: the MNIST files (IDX, downloads), augmentation, composed number lines."""
