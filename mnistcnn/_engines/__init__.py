"""The engines stage: what runs a network, one module per engine (as httpx's ``_transports``).

Each engine takes a float32 batch and returns the network's raw output; each may be called from
several threads at once. :mod:`._base` holds the protocol they share; only the dynamic and
static engines import Paddle, so ONNX Runtime runs without it.
"""
