"""The tiny published entry shared by the publish and remeasure tests (`tiny_entry.publish_tiny`)."""

import pytest

from tiny_entry import publish_tiny


@pytest.fixture(scope="package")
def published(tmp_path_factory):
    """The tiny entry, published once for the package's tests; they copy it before changing anything."""
    return publish_tiny(tmp_path_factory.mktemp("publish"))
