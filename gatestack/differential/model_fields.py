"""Which pydantic models a config field holds: what builds a config without validation
(`rendering`) and what lists every key path a model accepts (`field_catalogue`) walk."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field's annotation holds directly (through Optional or a union), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, dict):
        return None
    for argument in typing.get_args(annotation):
        model = model_in(argument)
        if model is not None:
            return model
    return None


def list_item_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model of a list field's items, if the field is a list of models."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is list:
            return model_in(typing.get_args(candidate)[0])
    return None
