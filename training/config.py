"""Training configuration: defaults, config files (YAML or JSON), validation.

A run is described by one flat dict. Values come from `DEFAULTS`, then from a
config file (`--config recipe.yaml`), then from command-line flags; the
resolved dict is written to the run directory as `config.yaml`.

Example:

>>> from vae_zoo.training.config import resolve
>>> config = resolve(overrides={"model": "conv", "epochs": 2})
>>> config["model"], config["epochs"], config["batch_size"]
('conv', 2, 128)
"""

import inspect
import json
import os

import yaml

from vae_zoo import kinds
from vae_zoo.models.registry import get_family

DEFAULTS = {
    # model
    "model": "dense",
    "latent_dim": 32,
    "likelihood": None,  # None: the family's default (bernoulli for images, categorical for tokens)
    "posterior": None,  # None: the family's default (diagonal; diagonal_batch_norm for sequence)
    "prior": "normal",
    "beta": 1.0,
    "kl": "auto",
    "free_bits": 0.0,
    "objective": "elbo",
    "num_samples": 1,
    "model_kwargs": {},  # family arguments: hidden_units, filters, capacity, ...
    # data (each data kind adds its own settings: see KIND_SETTINGS below)
    "dataset": "fashion_mnist",
    "data_dir": None,
    # optimization
    "optimizer": "adam",  # "adam" or "sgd" (plain SGD: its step is linear in the gradient's scale)
    "epochs": 10,
    "batch_size": 128,
    "learning_rate": 1e-3,
    # None: constant; "cosine": cosine decay to lr_final_fraction * learning_rate over the run
    "lr_schedule": None,
    "lr_final_fraction": 0.01,
    "clipnorm": None,
    "steps_per_epoch": None,
    "kl_annealing": None,
    "anneal_steps": 10_000,
    "early_stopping": 0,
    # a recipe file: its finished run's final weights start this run (same model settings)
    "warm_start": None,
    # execution
    "strategy": "auto",
    # multiworker: seconds to wait for the other tasks (None: strategies.WORKER_TIMEOUT, 60)
    "worker_timeout": None,
    "logical_cpus": None,  # split the CPU into N logical devices (tests GPU paths on a CPU)
    "mixed_precision": False,
    "jit_compile": None,  # None: the family's choice (jit_compile="auto"); True / False: forced
    # None: the model's default (vae_zoo.models.trainer.DEFAULT_STEPS_PER_EXECUTION)
    "steps_per_execution": None,
    "seed": 0,
    "out": None,
    "tensorboard": True,
    "verbose": "auto",
}
#: The data kinds' own settings (`vae_zoo.kinds`: images' binarize and validation_size, sentences' max_length
#: and max_tokens, series' max_length as the window length), with their defaults.
KIND_SETTINGS = kinds.all_settings()
DEFAULTS.update(KIND_SETTINGS)

CHOICES = {
    "optimizer": ("adam", "sgd"),
    "binarize": (None, "static", "dynamic"),
    "kl_annealing": (None, "linear", "sigmoid", "cyclical"),
    "lr_schedule": (None, "cosine"),
    "strategy": ("auto", "default", "mirrored", "multiworker"),
}


def load_file(path):
    """Reads a YAML or JSON config file into a dict."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    with open(path) as f:
        text = f.read()
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(
            f"config file {path!r} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {error}"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path!r} must hold a mapping of settings, got {type(data).__name__}")
    return data


def resolve(path=None, overrides=None):
    """DEFAULTS, updated by the file at `path`, updated by `overrides`; validated."""
    config = dict(DEFAULTS)
    for source, values in (("config file", load_file(path) if path else {}), ("flags", overrides or {})):
        unknown = sorted(set(values) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"Unknown setting(s) in {source}: {', '.join(unknown)}. Known: {', '.join(sorted(DEFAULTS))}."
            )
        config.update(values)
    for key in ("binarize", "lr_schedule"):
        if config[key] in ("none", "None", False):
            config[key] = None
    get_family(config["model"])  # "Unknown model 'gan'. Valid: dense, conv, beta, sequence."
    for key, choices in CHOICES.items():
        if config[key] not in choices:
            shown = ", ".join("none" if c is None else c for c in choices)
            raise ValueError(f"Unknown {key} {config[key]!r}. Valid: {shown}.")
    # A kind's own settings mean nothing to another (only images are binarized).
    for other in kinds.KINDS.values():
        if other is not data_kind(config):
            config.update({key: None for key in other.exclusive_settings})
    for key in ("epochs", "batch_size", "latent_dim", "num_samples", "steps_per_execution"):
        if key == "steps_per_execution" and config[key] is None:
            continue
        if not isinstance(config[key], int) or config[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {config[key]!r}")
    if not isinstance(config["lr_final_fraction"], (int, float)) or not 0 <= config["lr_final_fraction"] <= 1:
        raise ValueError(f"lr_final_fraction must be a number in [0, 1], got {config['lr_final_fraction']!r}")
    if not isinstance(config["model_kwargs"], dict):
        raise ValueError(f"model_kwargs must be a mapping, got {config['model_kwargs']!r}")
    if config["kl_annealing"] and config["objective"] != "elbo":
        raise ValueError(
            f"kl_annealing {config['kl_annealing']!r} drives the ELBO's KL weight, but objective "
            f"{config['objective']!r} has no KL term; drop kl_annealing or use objective 'elbo'"
        )
    check_model_kwargs(config)
    if config["out"] is None:
        config["out"] = os.path.join("runs", f"{config['model']}_{config['dataset']}")
    return config


def data_kind(config):
    """The data kind (`vae_zoo.kinds`) a config's run trains on: its family's, picked by its dataset."""
    return kinds.kind_for_config(get_family(config["model"]), config["dataset"])


def check_model_kwargs(config):
    """Refuses `model_kwargs` the family does not take, and what the family refuses
    (`check_training_config`)."""
    family = get_family(config["model"])
    accepted = set(family.arguments)
    for cls in family.__mro__:
        if "__init__" in vars(cls) and cls.__module__.startswith("vae_zoo"):
            accepted |= {
                n
                for n, p in inspect.signature(cls.__init__).parameters.items()
                if p.kind == p.POSITIONAL_OR_KEYWORD
            }
    unknown = sorted(set(config["model_kwargs"]) - accepted - {"self"})
    if unknown:
        raise ValueError(
            f"model_kwargs {unknown} do not apply to model {config['model']!r} ({family.__name__}); "
            f"it takes: {', '.join(sorted(accepted - {'self'}))}"
        )
    family.check_training_config(config)  # the family's own refusals (BetaVAE: KL annealing with a capacity)


#: The settings that fix a model's variables: a warm start must agree with its recipe on all of them.
MODEL_SETTINGS = (
    "model",
    "latent_dim",
    "likelihood",
    "posterior",
    "prior",
    "model_kwargs",
    "dataset",
    "binarize",
    "max_length",
    "max_tokens",
)


def warm_start_run(config):
    """The run directory whose final weights start a run with `warm_start` (None without one).

    `config["warm_start"]` names a recipe; its run (the recipe's `out`) must have finished
    (`model.keras`, `metrics.json`) and must describe the same model and data as `config`.
    """
    recipe = config.get("warm_start")
    if recipe is None:
        return None
    if not isinstance(recipe, str):
        raise ValueError(f"warm_start must be the path of a recipe file, got {recipe!r}")
    first = resolve(recipe)
    if first.get("warm_start") is not None:
        raise ValueError(
            f"warm_start recipe {recipe!r} has a warm_start of its own ({first['warm_start']!r}); chain at "
            "most two runs"
        )
    differing = [key for key in MODEL_SETTINGS if first[key] != config[key]]
    if differing:
        shown = "; ".join(f"{key}: {first[key]!r} there, {config[key]!r} here" for key in differing)
        raise ValueError(f"warm_start recipe {recipe!r} trains another model or data ({shown})")
    run_dir = first["out"]
    missing = [
        name for name in ("model.keras", "metrics.json") if not os.path.exists(os.path.join(run_dir, name))
    ]
    if missing:
        raise FileNotFoundError(
            f"warm_start run {run_dir!r} has not finished (no {', '.join(missing)}); train it first: "
            f"vae-zoo train --config {recipe}"
        )
    return run_dir


def write(config, run_dir):
    """Writes `config.yaml` into `run_dir`."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "config.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=True)
    return path
