"""Images `[H, W, C]` in [0, 1] (the dense, conv and beta families): read by `vae_zoo.datasets.load`,
binarized dynamically for training and once (static, seeded) for evaluation."""

from vae_zoo.kinds.registry import DataKind, register_kind


@register_kind("images")
class Images(DataKind):
    settings = {"binarize": "dynamic", "validation_size": 5000}
    exclusive_settings = ("binarize",)

    @property
    def datasets(self):
        from vae_zoo.datasets.catalog import IMAGE_DATASETS

        return IMAGE_DATASETS

    def training_data(self, config, verbose=False):
        from vae_zoo import datasets

        common = dict(
            batch_size=config["batch_size"],
            seed=config["seed"],
            data_dir=config["data_dir"],
            validation_size=config["validation_size"],
            verbose=verbose,
        )
        # Training draws fresh bits every epoch when dynamic; evaluation splits are binarized once.
        evaluation_binarize = "static" if config["binarize"] else None
        train = datasets.load(
            config["dataset"], split="train", binarize=config["binarize"], drop_remainder=True, **common
        )
        if config["steps_per_epoch"]:
            train = train.take(config["steps_per_epoch"])
        splits = {
            "train": train,
            "validation": datasets.load(
                config["dataset"], split="validation", binarize=evaluation_binarize, **common
            ),
            # Train metrics at the end: the same examples, binarized once, not shuffled.
            "train_eval": datasets.load(
                config["dataset"], split="train", binarize=evaluation_binarize, shuffle=False, **common
            ),
        }
        return splits, {"input_shape": tuple(splits["validation"].element_spec.shape[1:])}

    def summary_images(self, validation):
        return next(iter(validation.unbatch().batch(16))).numpy()

    def write_run_outputs(self, model, validation, run_dir, seed):
        import os

        from vae_zoo import plots

        plots.model_samples(model, os.path.join(run_dir, "samples.png"), num_samples=64, seed=seed)
        images = next(iter(validation.unbatch().batch(20)))
        plots.model_reconstructions(model, images.numpy(), os.path.join(run_dir, "reconstructions.png"))

    def evaluation_binarize(self, binarize):
        return binarize

    def load_split(self, model, dataset, split="test", binarize="static", seed=0, data_dir=None):
        from vae_zoo import datasets

        x, _ = datasets.load_arrays(dataset, split=split, binarize=binarize, seed=seed, data_dir=data_dir)
        return x

    card_unit = "image"

    def describes_entry(self, entry):
        return "train_binarize" in entry["preprocessing"]

    def card_data_lines(self, entry):
        p = entry["preprocessing"]
        seed = p["seed"]
        train = {
            "dynamic": "binarized afresh every epoch (`dynamic`): "
            "each pixel a new Bernoulli(intensity / 255) draw, "
            f"the sequence of draws reproducible with seed {seed}",
            "static": f"binarized once (`static`) with seed {seed}",
            None: "grayscale in [0, 1], not binarized",
        }.get(p["train_binarize"], f"`{p['train_binarize']}`")
        if p.get("test_binarize") == "static":
            test = (
                f"binarized once (`static`) with seed {seed}: "
                "each pixel drawn once from Bernoulli(intensity / 255) "
                "by NumPy's generator keyed by the seed and the split, the same bits on every load "
                f'(`vae_zoo.datasets.load_arrays(..., binarize="static", seed={seed})`)'
            )
        elif p.get("test_binarize") is None:
            test = "grayscale in [0, 1], not binarized"
        else:
            test = f"`{p['test_binarize']}`"
        return [f"- Training images: {train}.", f"- Test images: {test}."]

    def preprocessing(self, model, config):
        return {
            "train_binarize": config["binarize"],
            "test_binarize": "static" if config["binarize"] else None,
            "seed": config["seed"],
        }
