"""What TF Serving's batcher assumes of the exports' signatures, checked in its sessions (session_runner.py):
rows run together equal rows run apart (and padding changes nothing), the same request gives the same
outputs across runs and loads, and other seeds give other draws.
"""

import numpy as np
import pytest
from export_testing import KINDS
from session_runner import assert_no_errors, assert_same, case_outputs

from vae_zoo.export import saved_model as sm


@pytest.mark.parametrize("kind", KINDS)
def test_rows_together_equal_rows_apart(runs, kind):
    """What the batcher does: rows [0, 1, 2] in one run equal [0] and [1, 2] run apart, and padding changes
    nothing."""
    run = runs[kind]
    for name in sm.SIGNATURES:
        assert_no_errors(run, name, "full", "row0", "rows12", "padded")
        full, row0, rows12 = (case_outputs(run, name, c) for c in ("full", "row0", "rows12"))
        padded = case_outputs(run, name, "padded")
        for key, value in full.items():
            assert_same(
                value, np.concatenate([row0[key], rows12[key]]), f"{name}/{key}: [0, 1, 2] vs [0] + [1, 2]"
            )
            assert padded[key].shape[0] == 4
            assert_same(padded[key][:3], value, f"{name}/{key}: padded to 4 rows vs [0, 1, 2]")


@pytest.mark.parametrize("kind", KINDS)
def test_same_request_same_outputs_across_runs_and_loads(runs, kind):
    run = runs[kind]
    for name in sm.SIGNATURES:
        assert_no_errors(run, name, "full", "again", "second_session")
        full = case_outputs(run, name, "full")
        for case in ("again", "second_session"):
            other = case_outputs(run, name, case)
            assert set(other) == set(full)
            for key, value in full.items():
                assert_same(other[key], value, f"{name}/{key} ({case})", atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_other_seeds_give_other_draws(runs, kind):
    run = runs[kind]
    random = [name for name, s in run["report"]["signatures"].items() if "seed" in s["inputs"]]
    assert sorted(random) == ["decode_sample", "encode_sample", "log_likelihood", "sample"]
    for name in random:
        assert_no_errors(run, name, "full", "other_seed")
        full, other = case_outputs(run, name, "full"), case_outputs(run, name, "other_seed")
        assert full.pop("error").tolist() == other.pop("error").tolist() == [b""] * 3  # every row valid
        for key, value in full.items():
            if value.dtype == object:
                assert value.tolist() != other[key].tolist(), (
                    f"{name}/{key}: seed + 1000 gave the same sentences"
                )
            elif kind == "dense" and name == "decode_sample":  # Bernoulli pixels: some agree by chance
                assert np.mean(value != other[key]) > 0.1, (
                    f"{name}/{key}: seed + 1000 gave nearly the same draw"
                )
            else:
                for row in range(3):  # the same draw gives the same bits; an untrained hierarchical
                    # model's log p(x) estimates differ by only 4e-3 nats of 543 (within allclose's rtol)
                    assert not np.allclose(value[row], other[key][row], rtol=0, atol=1e-5), (
                        f"{name}/{key} row {row}: seed + 1000 gave the same draw"
                    )
