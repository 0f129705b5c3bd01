"""Saved importance-weighted passes (`vae_zoo.saved_passes`): resumed where they stopped, keyed by
everything they depend on, and counting the seconds of every session that worked on them."""

import json
import os

import keras
import numpy as np
import pytest

from vae_zoo import evaluation, saved_passes
from vae_zoo.models import DenseVAE


def test_an_interrupted_log_likelihood_resumes_from_its_last_batch(fashion_test, tmp_path, monkeypatch):
    model = DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(16,), seed=0)
    x = (fashion_test[0][:250] > 127).astype("float32")
    settings = dict(num_samples=8, seed=3, batch_size=50, progress=False)
    expected = evaluation.log_likelihood(model, x, **settings)
    saved = []
    original = saved_passes.SavedPass.save

    def save(self, results):  # records what each batch saved; stops after the second batch when asked
        original(self, results)
        saved.append(len(results))
        if stop_after is not None and len(results) == stop_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(saved_passes.SavedPass, "save", save)
    stop_after = 100
    with pytest.raises(KeyboardInterrupt):
        evaluation.log_likelihood(model, x, resume_dir=tmp_path, **settings)
    stop_after, saved[:] = None, []
    resumed = evaluation.log_likelihood(model, x, resume_dir=tmp_path, **settings)
    assert saved == [150, 200, 250]  # only the three batches left were estimated
    np.testing.assert_allclose(resumed, expected, rtol=1e-6)  # each value with its own example and seed
    saved[:] = []
    np.testing.assert_array_equal(
        evaluation.log_likelihood(model, x, resume_dir=tmp_path, **settings), resumed
    )
    assert saved == []  # a finished pass is read back, not estimated again

    # another importance seed, other weights or other data never read the saved estimates
    for changed, args in [
        ("seed", (model, x, {**settings, "seed": 4})),
        ("data", (model, x[::-1].copy(), settings)),
    ]:
        saved[:] = []
        evaluation.log_likelihood(args[0], args[1], resume_dir=tmp_path, **args[2])
        assert saved == [50, 100, 150, 200, 250], changed
    # nor does the same call after a change to the code (here: its digest stood in for)
    with monkeypatch.context() as patch:
        patch.setattr(saved_passes, "_code_digest", lambda files: "an edited estimator")
        saved[:] = []
        evaluation.log_likelihood(model, x, resume_dir=tmp_path, **settings)
        assert saved == [50, 100, 150, 200, 250]
    model.set_weights([w + 0.01 for w in model.get_weights()])
    saved[:] = []
    other = evaluation.log_likelihood(model, x, resume_dir=tmp_path, **settings)
    assert saved == [50, 100, 150, 200, 250] and np.abs(other - expected).max() > 1e-3
    assert len(list(tmp_path.glob("log_likelihood-*.npy"))) == 5 and not list(tmp_path.glob("*partial*"))


class _UsersVAE(DenseVAE):
    """A subclass outside vae_zoo: its own file is part of the estimate's code."""


def test_saved_estimates_are_keyed_by_the_code_that_computed_them(tmp_path):
    model = _UsersVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    sources = saved_passes.estimator_sources(model)
    names = {os.path.relpath(path, os.path.dirname(evaluation.__file__)) for path in sources}
    for module in ("evaluation.py", "models/dense.py", "models/objectives.py", "models/vae.py"):
        assert module in names
    assert "distributions/priors.py" in names and "distributions/likelihoods.py" in names  # its heads
    assert not names & {"models/conv.py", "models/hierarchical.py", "models/sequence.py"}  # other families
    assert os.path.abspath(__file__) in sources  # the user's subclass
    files = tuple(str(tmp_path / name) for name in ("a.py", "b.py"))
    for path in files:
        open(path, "w").write("x = 1\n")
    before = saved_passes._code_digest(files)
    open(files[1], "w").write("x = 2\n")  # one byte of one file
    saved_passes._code_digest.cache_clear()
    assert saved_passes._code_digest(files) != before
    assert saved_passes._code_digest(files[::-1]) != saved_passes._code_digest(files)


def _interrupted_after(examples, call):
    """Runs `call()` with the pass's save raising KeyboardInterrupt once `examples` estimates are saved."""
    original = saved_passes.SavedPass.save

    def save(self, results):
        original(self, results)
        if len(results) == examples:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(saved_passes.SavedPass, "save", save)
        with pytest.raises(KeyboardInterrupt):
            call()


class _Clock:
    """`saved_passes.monotonic` moving `step` seconds at each read."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_a_resumed_pass_counts_the_seconds_of_every_session(fashion_test, tmp_path, monkeypatch):
    """The JSON file beside a pass keeps the seconds of all the sessions that worked on it, and a call
    that reads a saved part back gives its cost to `earlier_seconds`: a measurement resumed across
    sessions states what it cost in all, not only its last session's wall clock."""
    monkeypatch.setattr(saved_passes, "monotonic", _Clock(10.0))  # one read at the start, one per batch
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    x = (fashion_test[0][:250] > 127).astype("float32")
    settings = dict(num_samples=2, seed=1, batch_size=50, progress=False, resume_dir=tmp_path)
    _interrupted_after(100, lambda: evaluation.log_likelihood(model, x, **settings))
    (record,) = tmp_path.glob("log_likelihood-*.json")
    assert json.loads(record.read_text()) == {"examples": 100, "seconds": 20.0}  # 2 batches of 10 s
    earlier = saved_passes.EarlierSeconds()
    evaluation.log_likelihood(model, x, earlier_seconds=earlier, **settings)
    assert earlier.seconds == 20.0  # what the saved part had cost
    assert json.loads(record.read_text()) == {"examples": 250, "seconds": 50.0}  # + 3 batches of 10 s
    earlier = saved_passes.EarlierSeconds()
    for _ in range(2):  # a finished pass read back gives its whole cost, and costs nothing more
        evaluation.log_likelihood(model, x, earlier_seconds=earlier, **settings)
    assert earlier.seconds == 100.0
    assert json.loads(record.read_text()) == {"examples": 250, "seconds": 50.0}


def test_a_resumed_pass_shows_progress_over_the_examples_left(fashion_test, tmp_path, monkeypatch, capsys):
    """The bar of a resumed pass counts the examples left (its rate and time left are this session's: a
    bar over all examples, started at the saved count, showed about 10x the true rate), and a line says
    what was saved."""
    targets = []

    class Bar(keras.utils.Progbar):
        def __init__(self, target, **kwargs):
            targets.append(target)
            super().__init__(target, **kwargs)

    monkeypatch.setattr(keras.utils, "Progbar", Bar)
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    x = (fashion_test[0][:250] > 127).astype("float32")
    settings = dict(num_samples=2, seed=1, batch_size=50, resume_dir=tmp_path)
    evaluation.log_likelihood(model, x[:100], **settings)  # not the same pass: other data
    _interrupted_after(100, lambda: evaluation.log_likelihood(model, x, **settings))
    capsys.readouterr()
    evaluation.log_likelihood(model, x, **settings)
    assert targets == [100, 250, 150]
    assert "a saved pass, 100 of 250 examples done (" in capsys.readouterr().err
    evaluation.log_likelihood(model, x, **settings)
    assert targets == [100, 250, 150]  # nothing left: no bar
    assert "a saved pass, finished (" in capsys.readouterr().err
