"""The Model: one declaration for validation, serialisation, schemas and persistence."""

from hexkernel.core.model._codec import storage_value
from hexkernel.core.model._info import FieldInfo, ModelInfo, model_check
from hexkernel.core.model._types import Invalid, Kind, TypeNode
from hexkernel.core.model.base import Embedded, Model, is_model
from hexkernel.core.model.fields import Field, FieldSpec

__all__ = (
    "Embedded",
    "Field",
    "FieldInfo",
    "FieldSpec",
    "Invalid",
    "Kind",
    "Model",
    "ModelInfo",
    "TypeNode",
    "is_model",
    "model_check",
    "storage_value",
)
