"""Measures a model on its test split once: the metrics an entry records, and the flags that set them.

`measure` returns the test metrics that `publish` writes into a registry entry
and `remeasure` compares with it: with `vae_zoo.evaluation.evaluate_model`, the
importance-weighted NLL with `--num-samples` samples over the first
`--nll-examples` examples (default all) and its standard error over those
examples, KL per dimension and active units on the same examples, and the
mutual information I(x; z) on the first `--mi-examples` of them (at most
log M nats), plus perplexity for sentences and the data kind's own numbers
(sentences: word level). The -ELBO, KL and reconstruction over the whole
split, and the -ELBO over its first `SUBSET` examples (the subset the tests
re-measure), come from `model.evaluate`.

`add_measure_arguments` and `add_binarization_seeds_argument` declare those
settings' flags once for publish, remeasure and `vae-zoo zoo reproduce`;
`evaluation_flags` writes the settings back as flags (an entry's
`evaluation_command`); `add_resume_argument` declares `--resume-dir`, where the long
importance-weighted passes save their progress so that an interrupted measurement resumes.
"""

import argparse
import os
import time

SUBSET = 1000
MI_EXAMPLES = 2000  # evaluate_model's default


def measure(
    model,
    x,
    num_samples,
    seed,
    nll_examples=None,
    mi_examples=MI_EXAMPLES,
    sentences=None,
    per_example=False,
    resume_dir=None,
    earlier_seconds=None,
):
    """Test metrics of `model` on a prepared test split `x` (numpy).

    Sentence models also get the word-level numbers of
    `vae_zoo.kinds.sentence_metrics.sentence_report` on the raw test `sentences` (all of them), each
    key prefixed `test_` (`test_reconstruction_word_f1`, `test_truncated_sentences`, ...).

    The NLL, its standard error, KL per dimension and active units are over the
    first `nll_examples` examples (None: all); I(x; z) over the first
    `mi_examples` of those (None: all of them), so it is at most log(mi_examples).
    `resume_dir`: where the importance-weighted pass saves its progress (`evaluation.log_likelihood`).
    `evaluation_seconds` counts the sessions a resumed pass ran in before this one; a caller that sums
    several measurements passes one `saved_passes.EarlierSeconds` as `earlier_seconds` to all of them.
    """
    from vae_zoo import evaluation, kinds
    from vae_zoo.saved_passes import EarlierSeconds

    earlier = EarlierSeconds() if earlier_seconds is None else earlier_seconds
    before = earlier.seconds

    def elbo_terms(data):
        logs = model.evaluate(data, batch_size=500, verbose=0, return_dict=True)
        return {"negative_elbo": -logs["elbo"], "kl": logs["kl"], "reconstruction": logs["reconstruction"]}

    start = time.time()
    if getattr(model, "optimizer", None) is None:  # presets and never-compiled models
        model.compile()
    nll_x = x if nll_examples is None else x[:nll_examples]
    report, ll = evaluation.evaluate_model(
        model,
        nll_x,
        num_samples=num_samples,
        seed=seed,
        mi_examples=mi_examples,
        per_example=True,
        resume_dir=resume_dir,
        earlier_seconds=earlier,
    )
    full, subset = elbo_terms(x), elbo_terms(x[:SUBSET])
    metrics = {
        "test_nll": report["negative_log_likelihood"],
        "test_nll_standard_error": report["negative_log_likelihood_standard_error"],
        "test_nll_num_samples": num_samples,
        "test_nll_num_examples": report["num_examples"],
        "test_negative_elbo": full["negative_elbo"],
        "test_kl": full["kl"],
        "test_reconstruction": full["reconstruction"],
        f"test_first_{SUBSET}_negative_elbo": subset["negative_elbo"],
        "test_num_examples": int(len(x)),
        "active_units": report["active_units"],
        "mutual_information": report["mutual_information"],
        "mutual_information_num_examples": report["mi_examples"],
        "kl_per_dimension": [round(v, 4) for v in report["kl_per_dimension"]]
        if report["kl_per_dimension"]
        else None,
    }
    if "kl_per_layer" in report:  # several stochastic layers: where the KL goes
        metrics.update(
            kl_per_layer=[round(v, 4) for v in report["kl_per_layer"]],
            kl_units_per_layer=report["kl_units_per_layer"],
        )
    if "perplexity" in report:
        metrics.update(perplexity=report["perplexity"], tokens=report["tokens"])
    if sentences is not None:  # the kind's own numbers (sentences: word level) on what it read besides x
        words = kinds.kind_of_model(model).extras_report(model, sentences, seed=seed)
        metrics.update({f"test_{key}": value for key, value in words.items() if key != "sentences"})
    # this call's wall clock and what its resumed pass had cost before (publish/remeasure add their spreads)
    metrics["evaluation_seconds"] = round(time.time() - start + earlier.seconds - before, 1)
    return (metrics, ll) if per_example else metrics


def evaluation_flags(num_samples, nll_examples, mi_examples):
    """The measurement settings as command-line flags (the entry's `evaluation_command`)."""
    nll = f" --nll-examples {nll_examples}" if nll_examples else ""
    mi = f" --mi-examples {mi_examples or 'all'}"
    return f"--num-samples {num_samples}{nll}{mi}"


def examples(value):
    """A count of examples >= 1 for the command line, or "all" (None)."""
    if value == "all":
        return None
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'all', got {value!r}")
    return int(value)


def add_measure_arguments(parser, num_samples_default=5000):
    parser.add_argument(
        "--num-samples", type=int, default=num_samples_default, help="importance samples of the NLL estimate"
    )
    parser.add_argument(
        "--nll-examples",
        type=examples,
        default=None,
        help="estimate the NLL on the first N test examples (default all)",
    )
    parser.add_argument(
        "--mi-examples",
        type=examples,
        default=MI_EXAMPLES,
        help=f"estimate I(x; z) on the first M of those, or 'all' (default {MI_EXAMPLES}); the estimate "
        "is at most log M nats, so showing I >= 8 nats takes M >= 3000 (log 3000 = 8.01)",
    )


def default_resume_dir():
    """Where importance-weighted passes save their progress: `log_likelihood/` in `$VAE_ZOO_HOME`
    (default `~/.vae_zoo`)."""
    from vae_zoo.presets.checks import home

    return os.path.join(home(), "log_likelihood")


def add_resume_argument(parser):
    """`--resume-dir DIR` (publish, remeasure, `vae-zoo zoo reproduce` and `vae-zoo evaluate`)."""
    parser.add_argument(
        "--resume-dir",
        default=default_resume_dir(),
        help="where each importance-weighted pass saves its estimates after every batch, so that an "
        "interrupted measurement started again goes on where it stopped (default: %(default)s; "
        "'none' to keep nothing)",
    )


def resume_dir(value):
    """The `--resume-dir` flag's folder, None for 'none'."""
    return None if value in (None, "", "none") else value


def add_binarization_seeds_argument(parser):
    """`--binarization-seeds S...` (publish, remeasure and `vae-zoo zoo reproduce`)."""
    parser.add_argument(
        "--binarization-seeds",
        type=int,
        nargs="+",
        default=None,
        metavar="S",
        help="also measure the NLL on the test images binarized with each seed (the entry's own seed is "
        "always among them): per-seed values and their spread; binarized images only",
    )
