"""Model families by name: what `vae-zoo train --model NAME` builds, declared by each family's own file.

A family is a `VAE` subclass decorated with `@register_family("name")`. Its
file declares everything training needs to know about it, so `training/`
never branches on a family's name:

* `data_kinds`: the kinds of data it reads (`vae_zoo.kinds`: "images", "sentences", "series", or a kind
  registered elsewhere), its default first; an instance says which one it reads in `data_kind`;
* `arguments`: its own command-line settings, `{name: FamilyArgument(parse, help)}`
  (`--hidden-units` for `hidden_units`); they reach the constructor through
  the config's `model_kwargs`;
* `from_training_config(config, data)`: the model for a resolved training
  config and the constructor settings its data kind fixes (`{"input_shape": ...}` for images,
  `{"vocabulary", "max_length"}` for sentences, `{"max_length", "features"}` for series).

Built-in families register when `vae_zoo.models` is imported; a family in
another module registers when that module is imported (`vae-zoo
--family-module path/to/file.py train --model NAME`).
"""

import collections

FamilyArgument = collections.namedtuple("FamilyArgument", ["parse", "help"])

FAMILIES = {}


def int_list(text):
    """`"512,256"` -> `[512, 256]` (`""` -> `[]`); lists pass through."""
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    return [int(v) for v in str(text).split(",") if v.strip()]


def register_family(name):
    """Class decorator: registers a `VAE` subclass as the family `name`."""

    def decorate(cls):
        if name in FAMILIES and FAMILIES[name].__qualname__ != cls.__qualname__:
            raise ValueError(f"model family {name!r} is already registered by {FAMILIES[name].__name__}")
        kinds = cls.data_kinds
        if not isinstance(kinds, tuple) or not kinds or not all(isinstance(k, str) and k for k in kinds):
            raise ValueError(
                f"{cls.__name__}.data_kinds must be a non-empty tuple of kind names, got {kinds!r}"
            )
        cls.family_name = name
        FAMILIES[name] = cls
        return cls

    return decorate


def family_names():
    """The registered family names, in registration order."""
    return tuple(FAMILIES)


def get_family(name):
    """The family class registered as `name`; unknown names list the known ones."""
    if name not in FAMILIES:
        raise ValueError(f"Unknown model {name!r}. Valid: {', '.join(FAMILIES)}.")
    return FAMILIES[name]


def all_arguments():
    """`{name: [(family, FamilyArgument), ...]}` over every registered family (for the CLI)."""
    table = collections.defaultdict(list)
    for family, cls in FAMILIES.items():
        for name, argument in cls.arguments.items():
            table[name].append((family, argument))
    return dict(table)
