"""The networks of `HierarchicalVAE` (`hierarchical.py`): the convolutional residual bottom-up pass, the
small dense top-down states and conditionals, and the output network.

Resolutions: full, 1/2 and 1/4 (two stride-2 stages), `channels`, `2 * channels`, `2 * channels` wide,
`residual_blocks` residual blocks at each; the output network may end in a stack of full-resolution
convolutions (`full_resolution_layers`), where the convolutional HVAE of Tomczak & Welling (2018,
VampPrior) puts most of its decoder's capacity. The architecture's arguments are checked here, before
anything is built.
"""

import keras

from vae_zoo.utils.checks import is_integer


def layer_sizes(latent_dim, latent_dims, layers):
    """The layers' sizes, top first, from `latent_dims`, or `latent_dim` split in `layers` (2)."""
    if layers is not None and not is_integer(layers, 2):
        raise ValueError(f"stochastic_layers must be an integer >= 2, got {layers!r}")
    if latent_dim is not None and not is_integer(latent_dim, 1):
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    if latent_dims is None:
        layers = 2 if layers is None else int(layers)
        if latent_dim is None or int(latent_dim) < layers or int(latent_dim) % layers:
            raise ValueError(
                f"HierarchicalVAE splits latent_dim into {layers} equal stochastic layers: it must be "
                f"a multiple of {layers}, got latent_dim={latent_dim!r} (or pass latent_dims, top first)"
            )
        return (int(latent_dim) // layers,) * layers
    sizes = tuple(latent_dims) if isinstance(latent_dims, (list, tuple)) else ()
    if len(sizes) < 2 or not all(is_integer(s, 1) for s in sizes):
        raise ValueError(
            f"latent_dims must list at least two positive layer sizes (top first), got {latent_dims!r}"
        )
    sizes = tuple(int(s) for s in sizes)
    if latent_dim is not None and int(latent_dim) != sum(sizes):
        raise ValueError(
            f"latent_dim ({latent_dim!r}) must equal sum(latent_dims) = {sum(sizes)} "
            f"for latent_dims {list(sizes)}; pass one of them"
        )
    if layers is not None and int(layers) != len(sizes):
        raise ValueError(f"stochastic_layers={layers!r} but latent_dims lists {len(sizes)} layers")
    return sizes


def check_input_shape(input_shape):
    """Refuses (ValueError) an `input_shape` that is not `(H, W, C)` with H and W divisible by 4."""
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    if len(shape) != 3 or int(shape[0]) % 4 or int(shape[1]) % 4:
        raise ValueError(
            "HierarchicalVAE expects input_shape (height, width, channels) with height and width "
            f"divisible by 4 (two stride-2 stages), got {input_shape!r}"
        )


def check_widths(channels, residual_blocks, hidden_units, full_resolution_layers):
    """`(channels, residual_blocks, hidden_units, full_resolution_layers)` as ints; refuses (ValueError)
    a non-integer, channels or hidden_units below 1, or a negative count."""
    checked = (
        ("channels", channels, 1),
        ("residual_blocks", residual_blocks, 0),
        ("hidden_units", hidden_units, 1),
        ("full_resolution_layers", full_resolution_layers, 0),
    )
    for name, value, low in checked:
        if not is_integer(value, low):
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return tuple(int(value) for _, value, _ in checked)


def _residual(x, channels, activation, name):
    """x + conv(act(conv(act(x)))), the second convolution zero-initialized (the block starts as the
    identity, as in VDVAE/NVAE's residual cells)."""
    h = keras.layers.Activation(activation)(x)
    h = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_a")(h)
    h = keras.layers.Activation(activation)(h)
    h = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", name=f"{name}_b")(h)
    return keras.layers.Add()([x, h])


def bottom_up(data_shape, channels, residual_blocks, hidden_units, num_layers, activation):
    """data `[B, *data_shape]` -> one feature vector per stochastic layer, concatenated top layer first
    `[B, num_layers * hidden_units]`: the bottom layer's from the convolutions, each layer above from
    the one below through a dense layer (the ladder's deterministic upward path)."""
    x = keras.Input(data_shape)
    h = keras.layers.Conv2D(channels, 3, padding="same", name="stem")(x)
    for stage, width in enumerate((channels, 2 * channels, 2 * channels)):
        if stage:
            h = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation=activation)(h)
        for b in range(residual_blocks):
            h = _residual(h, width, activation, f"encoder_{stage}_{b}")
    d = keras.layers.Dense(hidden_units, activation=activation)(keras.layers.Flatten()(h))
    features = [d]
    for _ in range(num_layers - 1):
        d = keras.layers.Dense(hidden_units, activation=activation)(d)
        features.append(d)
    return keras.Model(x, keras.layers.Concatenate()(features[::-1]), name="bottom_up")


def top_down_networks(latent_dims, hidden_units, activation):
    """For each layer below the top: its top-down state network ([z_{i-1}, h_{i-1}] -> h_i), its prior
    head (h_i -> 2 * size, float32) and its posterior head ([h_i, d_i] -> 2 * size, float32, zero
    output at initialization: q starts as the prior). Returns the three lists."""
    act, width = activation, hidden_units
    states, priors, posteriors = [], [], []
    for i, size in enumerate(latent_dims[1:], start=1):
        states.append(
            keras.Sequential(
                [keras.layers.Dense(width, activation=act), keras.layers.Dense(width, activation=act)],
                name=f"top_down_{i}",
            )
        )
        priors.append(keras.layers.Dense(2 * size, dtype="float32", name=f"prior_{i}"))
        posteriors.append(
            keras.Sequential(
                [
                    keras.layers.Dense(width, activation=act),
                    keras.layers.Dense(2 * size, dtype="float32", kernel_initializer="zeros"),
                ],
                name=f"posterior_{i}",
            )
        )
    return states, priors, posteriors


def _full_resolution_stack(h, layers, width, activation):
    """A 1x1 projection to `width` channels, then `layers` residual 3x3 convolutions
    h + conv(act(h)), each zero-initialized (the stack starts as the projection)."""
    h = keras.layers.Conv2D(width, 1, name="full_resolution_in")(h)
    for b in range(layers):
        r = keras.layers.Activation(activation)(h)
        r = keras.layers.Conv2D(
            width, 3, padding="same", kernel_initializer="zeros", name=f"full_resolution_{b}"
        )(r)
        h = keras.layers.Add()([h, r])
    return h


def output_network(
    data_shape,
    inputs,
    channels,
    residual_blocks,
    hidden_units,
    num_params,
    activation,
    full_resolution_layers=0,
):
    """`[N, inputs]` (the bottom layer's z and the last top-down state) -> raw likelihood parameters
    `[N, *data_shape, num_params]` (float32), mirroring `bottom_up`, then `full_resolution_layers`
    residual 3x3 convolutions of `2 * channels` at full resolution when asked."""
    height, width, data_channels = data_shape
    wide = 2 * channels
    z = keras.Input((inputs,))
    h = keras.layers.Dense(hidden_units, activation=activation)(z)
    h = keras.layers.Dense((height // 4) * (width // 4) * wide, activation=activation)(h)
    h = keras.layers.Reshape((height // 4, width // 4, wide))(h)
    for stage, filters in enumerate((wide, wide, channels)):
        if stage:
            h = keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation=activation)(h)
        for b in range(residual_blocks):
            h = _residual(h, filters, activation, f"decoder_{stage}_{b}")
    if full_resolution_layers:
        h = _full_resolution_stack(h, full_resolution_layers, wide, activation)
    h = keras.layers.Activation(activation)(h)
    h = keras.layers.Conv2D(data_channels * num_params, 3, padding="same", dtype="float32")(h)
    out = keras.layers.Reshape((height, width, data_channels, num_params), dtype="float32")(h)
    return keras.Model(z, out, name="output_network")
