"""The weights file of vae-zoo's `lstm_wordnet_sentences` preset, as a package resource.

`vae_zoo.presets` finds it through the entry point `lstm_wordnet_sentences` of the group
`vae_zoo.weights` and checks its SHA-256 before loading it; load the preset with
`vae_zoo.load("lstm_wordnet_sentences")`.
"""
