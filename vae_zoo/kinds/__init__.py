"""Data kinds: images, sentences, real-valued series (see `vae_zoo.kinds.registry`)."""

from vae_zoo.kinds import images, sentences, series  # noqa: F401  (each registers itself)
from vae_zoo.kinds.registry import (
    KINDS,
    DataKind,
    all_settings,
    get_kind,
    kind_for_config,
    kind_names,
    kind_of_entry,
    kind_of_model,
    load_split,
    preset_data,
    preset_extras_data,
    register_kind,
)

__all__ = [
    "KINDS",
    "DataKind",
    "all_settings",
    "get_kind",
    "kind_for_config",
    "kind_names",
    "kind_of_entry",
    "kind_of_model",
    "load_split",
    "preset_data",
    "preset_extras_data",
    "register_kind",
]
