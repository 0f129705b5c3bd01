"""SHA-256 of files: how presets and downloaded data are checked before they are read."""

import hashlib


def sha256(path):
    """The hex SHA-256 digest of the file at `path`, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
