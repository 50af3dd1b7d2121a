"""The OpenAPI 3.1 document of the model server (``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

__all__ = ["document"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The endpoint name (the V2 model name).",
}
_VERSION = {
    "name": "version",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "A registry version of the model the endpoint serves.",
}
_TARGET = {
    "name": "target",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "`<endpoint>:predict` or `<endpoint>:explain`.",
}
_CLIENT_ERRORS = {
    "400": _error("Malformed body: the message names the field."),
    "404": _error("Unknown endpoint or version."),
    "413": _error("Too many instances in one request."),
    "422": _error("The instances do not match the model's signature (names the column)."),
}


def _infer(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "post": {
            "summary": "Open Inference Protocol inference",
            "parameters": parameters,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}
                },
            },
            "responses": {"200": _ok("InferResponse"), **_CLIENT_ERRORS},
        }
    }


def _metadata(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": "Model metadata (inputs from the signature)",
            "parameters": parameters,
            "responses": {"200": _ok("ModelMetadata"), "404": _error("Unknown model/version.")},
        }
    }


def _ready(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": "Whether the model is ready",
            "parameters": parameters,
            "responses": {"200": {"description": "Ready"}, "404": _error("Unknown model.")},
        }
    }


def document() -> dict[str, Any]:
    from mloop import __version__

    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {
                "type": "string",
                "enum": [
                    "BOOL",
                    "UINT8",
                    "UINT16",
                    "UINT32",
                    "UINT64",
                    "INT8",
                    "INT16",
                    "INT32",
                    "INT64",
                    "FP16",
                    "FP32",
                    "FP64",
                    "BYTES",
                ],
            },
            "parameters": {"type": "object"},
            "data": {"type": "array"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mloop model server",
            "version": __version__,
            "description": "Open Inference Protocol (KServe V2) and Vertex-style prediction "
            "for the endpoints of an mloop model registry.",
        },
        "paths": {
            "/v2/health/live": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "Live"}}}
            },
            "/v2/health/ready": {
                "get": {
                    "summary": "Readiness (every model loaded)",
                    "responses": {
                        "200": {"description": "Ready"},
                        "503": {"description": "Loading"},
                    },
                }
            },
            "/v2": {
                "get": {"summary": "Server metadata", "responses": {"200": _ok("ServerMetadata")}}
            },
            "/v2/models/{name}": _metadata([_NAME]),
            "/v2/models/{name}/versions/{version}": _metadata([_NAME, _VERSION]),
            "/v2/models/{name}/ready": _ready([_NAME]),
            "/v2/models/{name}/versions/{version}/ready": _ready([_NAME, _VERSION]),
            "/v2/models/{name}/infer": _infer([_NAME]),
            "/v2/models/{name}/versions/{version}/infer": _infer([_NAME, _VERSION]),
            "/v1/endpoints": {
                "get": {
                    "summary": "The endpoints served here",
                    "responses": {"200": {"description": "OK"}},
                }
            },
            "/v1/endpoints/{target}": {
                "get": {
                    "summary": "An endpoint: deployed models and traffic split",
                    "parameters": [_TARGET],
                    "responses": {"200": _ok("Endpoint"), "404": _error("Unknown endpoint.")},
                },
                "post": {
                    "summary": "`:predict` — predictions; `:explain` — with attributions",
                    "parameters": [_TARGET],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PredictRequest"}
                            }
                        },
                    },
                    "responses": {"200": _ok("PredictResponse"), **_CLIENT_ERRORS},
                },
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text/plain; version=0.0.4"}},
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "description": 'V2 routes: {"error": message}; Vertex routes: '
                    '{"error": {"code", "message", "status"}}.',
                },
                "ServerMetadata": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "extensions": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "ModelMetadata": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "versions": {"type": "array", "items": {"type": "string"}},
                        "platform": {"type": "string"},
                        "inputs": {"type": "array", "items": {"type": "object"}},
                        "outputs": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "InferRequest": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {"type": "array", "items": tensor},
                        "outputs": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "InferResponse": {
                    "type": "object",
                    "properties": {
                        "model_name": {"type": "string"},
                        "model_version": {"type": "string"},
                        "id": {"type": "string"},
                        "outputs": {"type": "array", "items": tensor},
                    },
                },
                "PredictRequest": {
                    "type": "object",
                    "required": ["instances"],
                    "properties": {
                        "instances": {
                            "type": "array",
                            "items": {"oneOf": [{"type": "object"}, {"type": "array"}]},
                            "description": "Feature objects (or value lists in signature order).",
                        },
                        "parameters": {
                            "type": "object",
                            "properties": {"scores": {"type": "boolean"}},
                        },
                    },
                },
                "PredictResponse": {
                    "type": "object",
                    "properties": {
                        "predictions": {"type": "array"},
                        "deployed_model_id": {"type": "string"},
                        "model": {"type": "string"},
                        "model_version_id": {"type": "string"},
                        "scores": {"type": "array"},
                        "classes": {"type": "array"},
                        "explanations": {"type": "array"},
                    },
                },
                "Endpoint": {"type": "object"},
            }
        },
    }
