"""The OpenAPI 3.1 description of ``mnistcnn serve``'s HTTP API, served at ``/openapi.json``.

Written out by hand rather than generated: the API is small, and this way the schemas say
exactly what the server sends (the tests validate every answer they receive against them).
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _probability(description: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": 1, "description": description}


_BOX = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0},
    "minItems": 4,
    "maxItems": 4,
    "description": "[left, top, right, bottom] in the picture's pixels; right and bottom "
    "exclusive.",
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "additionalProperties": False,
                "properties": {
                    "type": {
                        "type": "string",
                        "description": "what went wrong, for programs: invalid_image, "
                        "invalid_base64, no_image, too_many_images, bad_multipart, "
                        "invalid_parameter, body_too_large, unsupported_media_type, "
                        "invalid_json, not_found, method_not_allowed, internal_error",
                    },
                    "message": {
                        "type": "string",
                        "description": "what went wrong and what to do, for people",
                    },
                },
            }
        },
    },
    "Prediction": {
        "type": "object",
        "required": ["digit", "probability", "probabilities"],
        "additionalProperties": False,
        "properties": {
            "digit": {"type": "integer", "description": "the most probable digit"},
            "probability": _probability("its probability"),
            "probabilities": {
                "type": "array",
                "items": {"type": "number", "minimum": 0, "maximum": 1},
                "description": "the probability of each class, in the order of /healthz's "
                "model.classes (digits 0-9 for the shipped model)",
            },
            "model_input": {
                "type": "array",
                "items": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0, "maximum": 255},
                    "minItems": 28,
                    "maxItems": 28,
                },
                "minItems": 28,
                "maxItems": 28,
                "description": "with include=model_input: the 28x28 picture the network saw, "
                "light ink (255) on black (0)",
            },
        },
    },
    "Predictions": {
        "type": "object",
        "required": ["predictions"],
        "additionalProperties": False,
        "properties": {
            "predictions": {
                "type": "array",
                "items": _ref("Prediction"),
                "description": "one per picture, in the order they were sent",
            }
        },
    },
    "ReadDigit": {
        "type": "object",
        "required": ["digit", "probability", "confident", "box"],
        "additionalProperties": False,
        "properties": {
            "digit": {"type": "integer", "minimum": 0, "maximum": 9},
            "probability": _probability("the digit's probability"),
            "confident": {
                "type": "boolean",
                "description": "whether probability reached min_confidence",
            },
            "box": _BOX,
        },
    },
    "Reading": {
        "type": "object",
        "required": ["text", "probability", "confident", "digits", "boxes"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "description": "the number, left to right"},
            "probability": _probability("the probability of the whole text"),
            "confident": {
                "type": "boolean",
                "description": "whether every digit reached min_confidence",
            },
            "digits": {"type": "array", "items": _ref("ReadDigit")},
            "boxes": {
                "type": "array",
                "description": "boxes printed on a form, each with its digit (null if empty)",
                "items": {
                    "type": "object",
                    "required": ["box", "digit"],
                    "additionalProperties": False,
                    "properties": {
                        "box": _BOX,
                        "digit": {"oneOf": [_ref("ReadDigit"), {"type": "null"}]},
                    },
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "model", "engine", "version", "batching"],
        "properties": {
            "status": {"const": "ok"},
            "model": {
                "type": "object",
                "required": ["name", "architecture", "accuracy", "classes"],
                "properties": {
                    "name": {"type": ["string", "null"], "description": "the model file"},
                    "architecture": {"type": ["string", "null"]},
                    "accuracy": {
                        "type": ["number", "null"],
                        "description": "MNIST test accuracy, if measured before saving",
                    },
                    "classes": {"type": "array", "items": {"type": "integer"}},
                },
            },
            "engine": {"enum": ["dynamic", "static", "onnxruntime"]},
            "version": {"type": "string", "description": "the mnistcnn version"},
            "batching": {
                "type": "object",
                "description": "network calls made so far and their sizes",
                "required": ["batches", "images", "mean_size", "largest"],
                "properties": {
                    "batches": {"type": "integer", "minimum": 0},
                    "images": {"type": "integer", "minimum": 0},
                    "mean_size": {"type": "number", "minimum": 0},
                    "largest": {"type": "integer", "minimum": 0},
                },
            },
        },
    },
}


def _pictures_body(many: bool) -> dict[str, Any]:
    files: dict[str, Any] = {"type": "string", "contentMediaType": "application/octet-stream"}
    if many:
        files = {"type": "array", "items": files}
    images: dict[str, Any] = {
        "type": "array",
        "items": {
            "type": "string",
            "description": "a picture file (PNG, JPEG, ...) in base64, or a data: URL",
        },
        "minItems": 1,
    }
    if not many:
        images["maxItems"] = 1
    return {
        "required": True,
        "description": (
            "Pictures in any of three forms: file fields named 'file' in a multipart form, a "
            'JSON object {"images": [...]} of base64 strings or data URLs, or one picture as '
            "the raw body with an image/* Content-Type. PNG, JPEG, BMP, GIF, TIFF, WebP, PPM, "
            "ICO, PCX and TGA are read; any size up to 64 million pixels, any polarity."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": files},
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["images"],
                    "properties": {"images": images},
                }
            },
            "image/*": {"schema": {"type": "string", "contentMediaType": "image/*"}},
        },
    }


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {
        400: "an unreadable picture, bad base64, no picture, or a bad query parameter",
        413: "the body is over the server's limit (--max-body)",
        415: "a Content-Type that carries no pictures",
        422: 'JSON that is malformed or not {"images": [...]}',
    }
    return {
        str(status): {
            "description": meaning[status],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for status in statuses
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def openapi_document(*, version: str, max_body: int) -> dict[str, Any]:
    """The API's description, for mnistcnn ``version`` and a body limit of ``max_body``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mnistcnn",
            "version": version,
            "summary": "Handwritten digit recognition",
            "description": "Recognise handwritten digits and read whole numbers. Request "
            f"bodies are limited to {max_body:,} bytes. Every error is JSON "
            '{"error": {"type": ..., "message": ...}}.',
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": {
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the server is up, and which model and engine answer",
                    "responses": {
                        "200": {
                            "description": "the server is ready",
                            "content": {"application/json": {"schema": _ref("Health")}},
                        }
                    },
                }
            },
            "/v1/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "The digit in each picture",
                    "parameters": [
                        _query(
                            "preprocess",
                            {"enum": ["auto", "normalize", "raw"], "default": "auto"},
                            "auto: pictures already in MNIST's form are taken as they are, "
                            "others normalised; normalize: every picture normalised; raw: "
                            "taken as they are",
                        ),
                        _query(
                            "include",
                            {"enum": ["model_input"]},
                            "model_input: add the 28x28 picture the network saw to each prediction",
                        ),
                    ],
                    "requestBody": _pictures_body(many=True),
                    "responses": {
                        "200": {
                            "description": "one prediction per picture, in order",
                            "content": {"application/json": {"schema": _ref("Predictions")}},
                        },
                        **_errors(400, 413, 415, 422),
                    },
                }
            },
            "/v1/read": {
                "post": {
                    "operationId": "read",
                    "summary": "The number written in one picture, digit by digit with boxes",
                    "parameters": [
                        _query(
                            "method",
                            {"enum": ["auto", "segments", "sequence"], "default": "auto"},
                            "how touching digits are read (see DigitClassifier.read_digits)",
                        ),
                        _query(
                            "min_confidence",
                            {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                            "the probability a digit needs to be marked confident",
                        ),
                    ],
                    "requestBody": _pictures_body(many=False),
                    "responses": {
                        "200": {
                            "description": "the digits read, left to right",
                            "content": {"application/json": {"schema": _ref("Reading")}},
                        },
                        **_errors(400, 413, 415, 422),
                    },
                }
            },
            "/": {
                "get": {
                    "operationId": "page",
                    "summary": "A page to draw digits or upload photos and see them read",
                    "responses": {"200": {"description": "the page", "content": {"text/html": {}}}},
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
                    },
                }
            },
        },
        "components": {"schemas": _SCHEMAS},
    }
