"""The baseline: a Keras 3 VAE written the obvious way, as in the keras.io VAE example.

A `Sampling` layer, a functional encoder (z_mean, z_log_var, z) and decoder,
and a custom `train_step` with binary cross-entropy on sigmoid outputs plus
the analytic KL, three `Mean` trackers. Same architecture as vae-zoo's
`DenseVAE` (784-512-256-latent, ReLU) or `ConvVAE` (conv 32-64 stride 2,
dense 256). Used only by `train_throughput.py`.
"""

import keras
from keras import layers, ops


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def dense_networks(latent_dim, hidden=(512, 256)):
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Flatten()(inputs)
    for units in hidden:
        h = layers.Dense(units, activation="relu")(h)
    z_mean, z_log_var = layers.Dense(latent_dim)(h), layers.Dense(latent_dim)(h)
    encoder = keras.Model(inputs, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    latent = keras.Input(shape=(latent_dim,))
    h = latent
    for units in reversed(hidden):
        h = layers.Dense(units, activation="relu")(h)
    outputs = layers.Reshape((28, 28, 1))(layers.Dense(784, activation="sigmoid")(h))
    return encoder, keras.Model(latent, outputs)


def conv_networks(latent_dim):
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Dense(256, activation="relu")(layers.Flatten()(h))
    z_mean, z_log_var = layers.Dense(latent_dim)(h), layers.Dense(latent_dim)(h)
    encoder = keras.Model(inputs, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    latent = keras.Input(shape=(latent_dim,))
    h = layers.Dense(256, activation="relu")(latent)
    h = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="relu")(h))
    h = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
    return encoder, keras.Model(latent, outputs)


class PlainVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def vae_losses(self, data):
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z)
        reconstruction_loss = ops.mean(
            ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
        )
        kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            total_loss, reconstruction_loss, kl_loss = self.vae_losses(data)
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        total_loss, reconstruction_loss, kl_loss = self.vae_losses(data)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}
