"""Data kinds by name: how a kind of data (images, sentences, real-valued series) is loaded, batched,
checked, evaluated, published and exported, declared in one place, its kind's own file.

A kind is a `DataKind` subclass decorated with `@register_kind("name")`; the built-in kinds
register when `vae_zoo.kinds` is imported, a new one when its module is imported. A model
family names the kinds it reads in `data_kinds` (the first is its default) and a model
instance says which one it reads in `data_kind`; upper layers (training, evaluation's callers,
publish, cards, export) ask the kind (`kind_of_model`, `kind_for_config`) and never probe a
model for a codec or a shape.
"""

KINDS = {}


class DataKind:
    """What the zoo needs to know about one kind of data. Each method has the kind's own answer."""

    #: The training-config settings the kind adds, with their defaults (see `vae_zoo.training.config`).
    settings = {}
    #: Settings that mean nothing for other kinds: a run of another kind records them as None.
    exclusive_settings = ()
    #: Dataset names this kind reads (what picks the kind of a family that reads several).
    datasets = ()

    def claims(self, dataset):
        """Whether `dataset` (a name or a path) is data of this kind."""
        return dataset in self.datasets

    def training_data(self, config, verbose=False):
        """`({"train", "validation", "train_eval"}: batched tf.data datasets, model settings)` of a run.

        The model settings are the constructor arguments the data fix (`input_shape`, a vocabulary,
        `features`...). The test split is never loaded here: it is measured only when asked.
        """
        raise NotImplementedError

    def summary_images(self, validation):
        """Images `[N, H, W, C]` for TensorBoard each epoch, or None when the kind has none."""
        return None

    def write_run_outputs(self, model, validation, run_dir, seed):
        """Writes a finished run's samples and reconstructions (of `validation` examples) into `run_dir`."""
        raise NotImplementedError

    def evaluation_binarize(self, binarize):
        """The binarization an evaluation of this kind uses, given the one asked for."""
        return None

    def load_split(self, model, dataset, split="test", binarize=None, seed=0, data_dir=None):
        """A dataset split as the numpy inputs `model` scores."""
        raise NotImplementedError

    def evaluation_extras(self, model, dataset, split, count, seed, data_dir=None):
        """The kind's own evaluation numbers on the first `count` examples of a split (`{}`: none)."""
        return {}

    def preprocessing(self, model, config):
        """What a preset entry records under `preprocessing` to rebuild its test data (`preset_data`)."""
        return {"seed": config.get("seed", 0)}

    def preset_data(self, entry, model, binarization_seed=None):
        """The test split a preset entry was measured on, prepared for `model` as a numpy array."""
        preprocessing = entry["preprocessing"]
        seed = preprocessing.get("seed", 0) if binarization_seed is None else binarization_seed
        x = self.load_split(model, entry["dataset"], binarize=preprocessing.get("test_binarize"), seed=seed)
        return model.prepare_inputs(x).numpy()

    def preset_extras_data(self, entry, model):
        """What `extras_report` reads of a preset's test split besides `preset_data` (None: nothing)."""
        return None

    def extras_report(self, model, extras_data, seed=0):
        """The kind's own numbers from `preset_extras_data`'s answer (`{}`: none)."""
        return {}

    # === Model cards ===
    #: What one example is called in a card's metrics ("image", "sentence", ...).
    card_unit = "example"

    def describes_entry(self, entry):
        """Whether a preset entry's `preprocessing` is this kind's record (what `preprocessing` writes)."""
        return False

    def card_data_lines(self, entry):
        """The card's lines on how the data were prepared (default: the recorded preprocessing,
        key by key)."""
        return [f"- `{key}`: {value}" for key, value in sorted(entry["preprocessing"].items())]

    def card_metric_rows(self, metrics, n_all, entry):
        """The kind's own rows of the card's metrics table (`| name | value | examples |`)."""
        return []


#: What a model card writes for a figure that an entry does not record.
NOT_RECORDED = "not recorded"


class _AnyKind(DataKind):
    """The card of an entry no kind recognizes: its preprocessing as recorded, no rows of its own."""

    name = None


def register_kind(name):
    """Class decorator: registers a `DataKind` subclass (one instance) as the kind `name`."""

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, DataKind)):
            raise ValueError(f"register_kind({name!r}) expects a DataKind subclass, got {cls!r}")
        if name in KINDS and type(KINDS[name]).__qualname__ != cls.__qualname__:
            raise ValueError(f"data kind {name!r} is already registered by {type(KINDS[name]).__name__}")
        cls.name = name
        KINDS[name] = cls()
        return cls

    return decorate


def kind_names():
    """The registered kind names, in registration order."""
    return tuple(KINDS)


def get_kind(name):
    """The kind registered as `name`; unknown names list the known ones."""
    if name not in KINDS:
        raise ValueError(f"Unknown data kind {name!r}. Valid: {', '.join(KINDS)}.")
    return KINDS[name]


def kind_of_model(model):
    """The kind of data `model` reads (its public `data_kind`)."""
    return get_kind(model.data_kind)


def kind_for_config(family, dataset):
    """The kind a run of `family` on `dataset` trains on: the first of the family's `data_kinds`
    that claims the dataset, else the family's default (its first)."""
    names = tuple(family.data_kinds)
    for name in names:
        if get_kind(name).claims(dataset):
            return get_kind(name)
    return get_kind(names[0])


def load_split(model, dataset, split="test", binarize="static", seed=0, data_dir=None):
    """A dataset split as the numpy inputs `model` scores, read by the model's kind
    (`DataKind.load_split`)."""
    kind = kind_of_model(model)
    return kind.load_split(model, dataset, split, kind.evaluation_binarize(binarize), seed, data_dir)


def preset_data(entry, model, binarization_seed=None):
    """The test split a preset registry entry was measured on, prepared for `model` (`DataKind.preset_data`):
    images binarized once with the entry's seed (or `binarization_seed`), sentences tokenized by the model's
    vocabulary, series windowed and standardized."""
    return kind_of_model(model).preset_data(entry, model, binarization_seed)


def preset_extras_data(entry, model):
    """What the model's kind measures besides on a preset's test split (sentences: the raw
    sentences), or None."""
    return kind_of_model(model).preset_extras_data(entry, model)


def kind_of_entry(entry):
    """The kind whose record a preset entry's `preprocessing` is (a kind that recognizes none:
    the plain card)."""
    for kind in KINDS.values():
        if kind.describes_entry(entry):
            return kind
    return _AnyKind()


def all_settings():
    """`{setting: default}` over every registered kind (kinds sharing a setting share its default)."""
    table = {}
    for kind in KINDS.values():
        for key, value in kind.settings.items():
            if key in table and table[key] != value:
                raise ValueError(
                    f"data kinds disagree on the default of {key!r}: {table[key]!r} and {value!r}"
                )
            table[key] = value
    return table
