"""ConvVAE's few-channel head: a `keras.layers.Conv2D` whose convolution is a per-pixel product and a shift-
and-sum."""

import json

import keras
import numpy as np
import tensorflow as tf

from vae_zoo.models import ConvVAE, conv

#: `keras.saving.serialize_keras_object` of the head when it was a `Conv2D` subclass
#: registered as `vae_zoo>ShiftSumConv2D`.
OLD_CONFIG = json.loads("""{"module": "vae_zoo.models.conv", "class_name": "Conv2D", "config": { "name":
"likelihood_params", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config":
{"name": "float32"}, "registered_name": null}, "filters": 1, "kernel_size": [3, 3], "strides": [1, 1],
"padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation":
"linear", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name":
"GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null},
"bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name":
null}, "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
"kernel_constraint": null, "bias_constraint": null}, "registered_name": "vae_zoo>ShiftSumConv2D"}""")


def op_types(layer, x):
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec(x.shape, tf.float32)).graph
    return {op.type for op in graph.get_operations()}


def same_as_keras(layer, x):
    plain = keras.layers.Conv2D.from_config(layer.get_config())
    plain.build(x.shape)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x).numpy(), plain(x).numpy(), atol=1e-5)
    assert "MatMul" in op_types(layer, x) and "MatMul" not in op_types(plain, x)


def test_no_class_shadows_keras_conv2d():
    assert not hasattr(conv, "Conv2D")
    model = ConvVAE((8, 8, 1), latent_dim=2, filters=(4,), hidden_units=0, seed=0)
    head = model.decoder_network.get_layer("likelihood_params")
    assert type(head) is keras.layers.Conv2D and head._shift_sum()


def test_the_shift_sum_is_keras_convolution_up_to_rounding():
    x = tf.random.stateless_normal([2, 6, 6, 5], seed=(1, 2))
    for filters in (1, 2):
        layer = conv.shift_sum_conv2d(filters, 3, padding="same")
        layer.build(x.shape)
        layer.set_weights(
            [tf.random.stateless_normal(w.shape, seed=(3, i)).numpy() for i, w in enumerate(layer.weights)]
        )
        same_as_keras(layer, x)
    wide = conv.shift_sum_conv2d(3, 3, padding="same")
    wide.build(x.shape)
    assert not wide._shift_sum() and "MatMul" not in op_types(wide, x)


def test_a_config_saved_under_the_old_registered_name_still_loads():
    layer = keras.saving.deserialize_keras_object(OLD_CONFIG)
    assert type(layer) is keras.layers.Conv2D and layer.name == "likelihood_params" and layer._shift_sum()
    x = tf.random.stateless_normal([2, 6, 6, 4], seed=(5, 6))
    layer.build(x.shape)
    same_as_keras(layer, x)
