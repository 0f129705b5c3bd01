"""`vae-zoo train`: one training run from a config, into a run directory.

The run directory holds:

* `config.yaml`: the resolved configuration (defaults < config file < flags);
* `backup/`: `keras.callbacks.BackupAndRestore` state, saved atomically
  (`backup.AtomicBackupAndRestore`); a killed run restarted with the same
  command resumes from the last completed epoch, even if it was killed while saving, and
  skips its data stream to where the save says it was (the batches of the uninterrupted run);
* `checkpoints/last.keras`, `checkpoints/best.keras` (best validation ELBO);
* `history.csv` (one row an epoch, across resumes) and `logs/` (TensorBoard scalars,
  sample and reconstruction images each epoch);
* `model.keras`: the final model; `metrics.json`: train and validation
  -ELBO, KL and reconstruction in nats per example, and timings. It holds no
  test figure: recipes, early stopping and every other choice are made on the
  validation split, and the test split is measured only when asked
  (`vae-zoo evaluate RUN --split test`, `python -m vae_zoo.training.publish`),
  each such measurement appended to `metrics.json["test_evaluations"]`;
* what the run's data kind writes (`vae_zoo.kinds`): `samples.png` and `reconstructions.png`
  (of validation images), for sentences `samples.txt` and `reconstructions.txt` (of validation
  sentences), for series `samples.csv` and `reconstructions.csv` (of validation windows).

Example (Python; the command line takes the same settings as flags):

>>> from vae_zoo.training.run import train
>>> metrics = train({"model": "dense", "epochs": 1, "steps_per_epoch": 20,
...                  "out": "/tmp/vae_zoo_doc_run", "verbose": 0})  # doctest: +SKIP
>>> sorted(metrics["validation"]), "test" in metrics  # doctest: +SKIP
(['kl', 'loss', 'negative_elbo', 'reconstruction'], False)
"""

import argparse
import json
import logging
import os
import time

from vae_zoo.models.registry import all_arguments, family_names, get_family

logger = logging.getLogger("vae_zoo.training")


def add_arguments(parser):
    """The `vae-zoo train` flags. Every flag overrides the config file; unset flags keep it."""
    s = argparse.SUPPRESS
    parser.add_argument(
        "--config", default=None, help="YAML or JSON config file (e.g. training/recipes/*.yaml)"
    )
    g = parser.add_argument_group("model")
    g.add_argument("--model", default=s, help=" | ".join(family_names()))
    g.add_argument("--latent-dim", type=int, default=s)
    g.add_argument(
        "--likelihood",
        default=s,
        help="bernoulli | gaussian | discretized_logistic | ... (default: the family's)",
    )
    g.add_argument(
        "--posterior", default=s, help="diagonal | diagonal_batch_norm | full (default: the family's)"
    )
    g.add_argument("--prior", default=s, help="normal | mixture | vamp")
    g.add_argument("--beta", type=float, default=s)
    g.add_argument("--kl", default=s, help="auto | analytic | mc")
    g.add_argument("--free-bits", type=float, default=s, help="KL floor in nats per latent dimension")
    g.add_argument("--objective", default=s, help="elbo | iwae")
    g.add_argument("--num-samples", type=int, default=s, help="z samples per example (IWAE k)")
    g = parser.add_argument_group(
        "model family settings (each family declares its own; see vae_zoo.models.registry)"
    )
    for name, owners in all_arguments().items():
        helps = "; ".join(f"{family}: {argument.help}" for family, argument in owners)
        g.add_argument("--" + name.replace("_", "-"), dest=name, default=s, help=helps)
    g = parser.add_argument_group("data")
    datasets = (
        "images: fashion_mnist | mnist | binarized_mnist | a local path; sentences: wordnet_sentences; "
    )
    datasets += "series: sunspots"
    g.add_argument("--dataset", default=s, help=datasets + " (see vae_zoo.kinds)")
    g.add_argument("--data-dir", default=s, help="directory with TFDS data or raw IDX/.npz files")
    g.add_argument("--binarize", default=s, help="dynamic | static | none")
    lengths = "sentences: tokens per sentence, [EOS] included; series: window length in steps"
    g.add_argument("--max-length", type=int, default=s, help=lengths)
    g.add_argument(
        "--max-tokens", type=int, default=s, help="sentences: vocabulary size, special tokens included"
    )
    g.add_argument(
        "--length-pool",
        type=int,
        default=s,
        help="sentences: training batches of like length, from pools of this many batches sorted by "
        "length (e.g. 64: several times faster, but worse with a batch-normalized posterior); "
        "0 (default): batches of randomly shuffled sentences",
    )
    g = parser.add_argument_group("optimization")
    g.add_argument("--epochs", type=int, default=s)
    g.add_argument("--batch-size", type=int, default=s, help="global batch size (all replicas)")
    g.add_argument("--optimizer", default=s, help="adam | sgd")
    g.add_argument("--learning-rate", type=float, default=s)
    g.add_argument(
        "--lr-schedule", default=s, help="none | cosine (decay to --lr-final-fraction over the run)"
    )
    g.add_argument("--lr-final-fraction", type=float, default=s)
    g.add_argument("--clipnorm", type=float, default=s)
    g.add_argument("--steps-per-epoch", type=int, default=s, help="limit steps per epoch (quick runs)")
    g.add_argument("--kl-annealing", default=s, help="linear | sigmoid | cyclical")
    g.add_argument("--anneal-steps", type=int, default=s)
    g.add_argument(
        "--early-stopping", type=int, default=s, help="patience in epochs on validation ELBO (0: off)"
    )
    g.add_argument(
        "--warm-start", default=s, help="a recipe whose finished run's final weights start this run"
    )
    g = parser.add_argument_group("execution")
    g.add_argument("--strategy", default=s, help="auto | default | mirrored | multiworker")
    g.add_argument(
        "--worker-timeout",
        type=float,
        default=s,
        help="multiworker: seconds to wait for the other hosts (60)",
    )
    g.add_argument(
        "--logical-cpus", type=int, default=s, help="split the CPU into N devices (mirrored on CPU)"
    )
    g.add_argument("--mixed-precision", action="store_true", default=s)
    g.add_argument(
        "--jit-compile",
        dest="jit_compile",
        action="store_true",
        default=s,
        help="XLA (default: the family's choice)",
    )
    g.add_argument("--no-jit-compile", dest="jit_compile", action="store_false", default=s, help="no XLA")
    g.add_argument("--steps-per-execution", type=int, default=s)
    g.add_argument("--seed", type=int, default=s)
    g.add_argument("--out", default=s, help="run directory (default runs/<model>_<dataset>)")
    g.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", default=s)
    g.add_argument("--verbose", type=int, default=s, help="0 silent, 1 progress bar, 2 one line per epoch")


#: The splits a training run measures; the test split is never among them (see the module docstring).
RUN_SPLITS = ("train", "validation")


def family_settings(family, flags):
    """The family's own settings given on the command line, parsed by the family's declarations.

    A flag that another family declares but this one does not is refused.
    """
    settings = {}
    for name, text in flags.items():
        if name not in family.arguments:
            accepted = ", ".join("--" + n.replace("_", "-") for n in family.arguments) or "none"
            raise ValueError(
                f"--{name.replace('_', '-')} does not apply to --model {family.family_name} "
                f"({family.__name__}); its own settings: {accepted}"
            )
        try:
            settings[name] = family.arguments[name].parse(text)
        except (TypeError, ValueError):
            raise ValueError(f"--{name.replace('_', '-')} {text!r}: {family.arguments[name].help}") from None
    return settings


def main(args):
    """Entry point of `vae-zoo train`."""
    from vae_zoo.training import config as config_lib

    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config", "family_module")}
    flags = {k: overrides.pop(k) for k in all_arguments() if k in overrides}
    config = config_lib.resolve(args.config, overrides)
    config["model_kwargs"] = {**config["model_kwargs"], **family_settings(get_family(config["model"]), flags)}
    config_lib.check_model_kwargs(config)
    metrics = train(config)
    print(json.dumps({split: metrics[split] for split in RUN_SPLITS if split in metrics}, indent=2))
    return 0 if not metrics.get("stopped_on_nan") else 1


def build_model(config, data):
    """The model a config describes, for the settings its data fix (`data`, from the data kind's
    `training_data`)."""
    return get_family(config["model"]).from_training_config(config, data)


def _learning_rate(config, train):
    """The optimizer's learning rate: a constant, or a schedule over the run's total steps.

    A schedule reads `optimizer.iterations`, so a resumed run continues it where it stopped.
    """
    import keras

    if config["lr_schedule"] is None:
        return config["learning_rate"]
    steps_per_epoch = int(train.cardinality())
    if steps_per_epoch < 1:
        raise ValueError(
            f"lr_schedule {config['lr_schedule']!r} needs a finite training set; give steps_per_epoch"
        )
    total = steps_per_epoch * config["epochs"]
    return keras.optimizers.schedules.CosineDecay(
        config["learning_rate"], decay_steps=total, alpha=config["lr_final_fraction"]
    )


def run_train_seconds(metrics):
    """A finished run's training time from its `metrics.json` dict (None where not recorded): warm-started
    and resumed runs include their first run's and their earlier sessions' (`train_seconds_total`); other
    runs have one session."""
    return metrics.get("train_seconds_total", metrics.get("train_seconds_this_session"))


def make_optimizer(config, train):
    """The run's optimizer: `config["optimizer"]` with its learning rate (or schedule) and clipnorm."""
    import keras

    optimizer_class = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[config["optimizer"]]
    return optimizer_class(_learning_rate(config, train), clipnorm=config["clipnorm"])


def compile_model(model, config, train):
    """`model.compile` with the run's optimizer (`make_optimizer`), XLA setting (unset: Keras's "auto")
    and steps per execution. Under a distribution strategy, call it inside `strategy.scope()` (the
    optimizer's variables are created there)."""
    model.compile(
        optimizer=make_optimizer(config, train),
        jit_compile="auto" if config["jit_compile"] is None else config["jit_compile"],
        steps_per_execution=config["steps_per_execution"],
    )


def train(config):
    """Runs training for a resolved config (see `vae_zoo.training.config`); returns the metrics dict."""
    import keras
    import tensorflow as tf

    from vae_zoo.training import callbacks as cb
    from vae_zoo.training import config as config_lib
    from vae_zoo.training import strategies
    from vae_zoo.training.backup import AtomicBackupAndRestore

    if not isinstance(config, dict) or "out" not in config or config["out"] is None:
        config = config_lib.resolve(overrides=config)
    verbose = config["verbose"]
    warm_run = config_lib.warm_start_run(config)  # refused before anything is written
    if config["logical_cpus"]:
        strategies.split_cpu(config["logical_cpus"])
    strategy = strategies.make_strategy(config["strategy"], worker_timeout=config["worker_timeout"])
    strategies.check_global_batch_size(config["batch_size"], strategy)
    distributed = strategy is not tf.distribute.get_strategy()  # get_strategy(): the default one here
    if distributed and (config["steps_per_execution"] or 1) > 1:
        raise ValueError(
            "--steps-per-execution > 1 does not work under a distribution strategy in Keras 3.15 "
            "(its multi-step loop fails there); drop the flag or use --strategy default"
        )
    if distributed and config["jit_compile"]:
        raise ValueError(
            "--jit-compile does not work under a distribution strategy here: XLA cannot reach the other "
            "replicas' variables (TF 2.21, Keras 3.15; Keras itself turns XLA off under strategies); "
            "drop --jit-compile or use --strategy default"
        )
    policy = strategies.set_precision(config["mixed_precision"])
    if verbose:  # the device the run uses (the `vae-zoo` console hides TensorFlow's own GPU log lines)
        print(f"vae_zoo.training: {strategies.describe(strategy)}")
    chief = strategies.is_chief(strategy)
    run_dir = config["out"]
    work_dir = (
        run_dir if chief else os.path.join(run_dir, f"worker_{strategies.parse_tf_config()['task']['index']}")
    )
    os.makedirs(work_dir, exist_ok=True)
    if chief:
        config_lib.write(config, run_dir)
    keras.utils.set_random_seed(config["seed"])

    kind = config_lib.data_kind(config)  # how this run's data are loaded, batched and shown (vae_zoo.kinds)
    data, model_settings = kind.training_data(config, verbose=bool(verbose))
    data = {split: strategies.shard_policy(dataset, strategy) for split, dataset in data.items()}
    with strategy.scope():
        model = build_model(config, model_settings)
        if warm_run is not None:  # before BackupAndRestore, which wins when this run itself resumes
            model.load_weights(os.path.join(warm_run, "model.keras"))
        compile_model(model, config, data["train"])

    callbacks = [cb.NaNGuard()]
    if config["kl_annealing"]:
        callbacks.append(
            cb.KLAnnealing(config["kl_annealing"], steps=config["anneal_steps"], max_beta=config["beta"])
        )
    if config["early_stopping"]:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_elbo", mode="max", patience=config["early_stopping"], restore_best_weights=True
            )
        )
    if chief:  # an epoch's row before its backup (after KLAnnealing, which adds beta): no row is ever lost
        callbacks.append(cb.HistoryCSV(os.path.join(run_dir, "history.csv")))
    backup = AtomicBackupAndRestore(os.path.join(work_dir, "backup"), data=data["train"])
    callbacks.append(backup)
    if chief:
        checkpoints = os.path.join(run_dir, "checkpoints")
        callbacks += [
            keras.callbacks.ModelCheckpoint(os.path.join(checkpoints, "last.keras")),
            keras.callbacks.ModelCheckpoint(
                os.path.join(checkpoints, "best.keras"), monitor="val_elbo", mode="max", save_best_only=True
            ),
        ]
        if config["tensorboard"]:
            logs = os.path.join(run_dir, "logs")
            callbacks.append(keras.callbacks.TensorBoard(logs))
            images = kind.summary_images(data["validation"])
            if images is not None:
                callbacks.append(cb.ImageSummaries(os.path.join(logs, "images"), images))

    start = time.time()
    history = model.fit(
        data["train"],
        validation_data=data["validation"],
        epochs=config["epochs"],
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the dataset shuffles itself
    )
    seconds = time.time() - start
    metrics = {
        "epochs_completed": backup.restored_epoch + len(history.epoch),
        "train_seconds_this_session": round(seconds, 1),
        "precision_policy": policy,
        "replicas": strategy.num_replicas_in_sync,
        "stopped_on_nan": bool(getattr(model, "nan_stopped", False)),
    }
    total = seconds  # None once a part of the run's training time was not recorded
    if backup.restored_epoch:  # resumed from a backup: the sessions before it count too
        metrics["resumed_after_epoch"] = backup.restored_epoch
        restored = backup.restored_train_seconds
        total = None if restored is None else total + restored
    if warm_run is not None:
        with open(os.path.join(warm_run, "metrics.json")) as f:
            warm_seconds = run_train_seconds(json.load(f))
        metrics["warm_start"] = {
            "recipe": config["warm_start"],
            "run": warm_run,
            "train_seconds": warm_seconds,
        }
        total = None if total is None or warm_seconds is None else total + warm_seconds
    if backup.restored_epoch or warm_run is not None:
        metrics["train_seconds_total"] = None if total is None else round(total, 1)
    for split, key in zip(RUN_SPLITS, ("train_eval", "validation")):
        values = model.evaluate(data[key], verbose=0, return_dict=True)
        metrics[split] = {
            "negative_elbo": -float(values["elbo"]),
            "kl": float(values["kl"]),
            "reconstruction": float(values["reconstruction"]),
            "loss": float(values["loss"]),
        }
    # Every worker saves its replica of the model (non-chief ones into their own work dir).
    model.save(os.path.join(work_dir, "model.keras"))
    if chief:
        with open(os.path.join(run_dir, "metrics.json"), "w") as f:
            json.dump({"config": config, **metrics}, f, indent=2)
        kind.write_run_outputs(model, data["validation"], run_dir, config["seed"])
    keras.mixed_precision.set_global_policy("float32")
    return metrics
