"""The base of every config model, shared by `models.py` and the policy models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gateway_config.fields import Quantity


class ConfigModel(BaseModel):
    """Base of every config model: camelCase keys, unknown keys refused, no type coercion."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        strict=True,
        frozen=True,
        # A field's docstring is its description: in the JSON Schema, so in editors and the reference.
        use_attribute_docstrings=True,
    )


class ResourceRequirements(ConfigModel):
    """Container requests and limits, e.g. `{requests: {cpu: 100m, memory: 128Mi}}`."""

    requests: dict[Literal["cpu", "memory", "ephemeral-storage"], Quantity] = Field(default_factory=dict)
    """What the container is guaranteed, by resource (`cpu`, `memory`, `ephemeral-storage`), e.g. `{cpu: 100m,
    memory: 128Mi}`."""
    limits: dict[Literal["cpu", "memory", "ephemeral-storage"], Quantity] = Field(default_factory=dict)
    """The most the container may use, by resource (`cpu`, `memory`, `ephemeral-storage`), e.g. `{memory: 256Mi}`."""
