"""Distribution strategies: TF_CONFIG parsing, global batch checks."""


import pytest

from vae_zoo.training import strategies

from training_testing import ENV, QUICK, assert_same_weights, run_cli, weights_of  # noqa: F401


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {}}', 'TF_CONFIG needs "cluster": {"worker"'),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', '"host:port" strings'),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "ps", "index": 0}}', '"task" must name a job'),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "index must be an int in \\[0, 2\\)"),
    ],
)
def test_malformed_tf_config(text, message):
    with pytest.raises(ValueError, match=message):
        strategies.parse_tf_config(text)


def test_missing_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="--strategy multiworker needs TF_CONFIG"):
        strategies.make_strategy("multiworker")


def test_global_batch_must_split_over_replicas():
    class TwoReplicas:
        num_replicas_in_sync = 2

    assert strategies.check_global_batch_size(64, TwoReplicas()) == 32
    with pytest.raises(ValueError, match="global batch size 65 must be a positive multiple of the number of replicas \\(2\\); try --batch-size 64"):
        strategies.check_global_batch_size(65, TwoReplicas())
