"""The REST client needs neither TensorFlow nor ``grpc`` (nor vae_zoo): it runs in a subprocess where
all three are blocked, and its modules' source imports nothing beyond the stdlib and numpy.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest
from serving_testing import REPO_ROOT, rest_metadata

CLIENT_DIR = os.path.join(REPO_ROOT, "serving", "client")

BLOCKED = ("tensorflow", "tensorflow_serving", "grpc", "vae_zoo")

NO_TF_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, io, json, sys

    BLOCKED = {blocked!r}


    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked in this test")
            return None


    sys.meta_path.insert(0, Block())
    for name in BLOCKED:  # the blocker works
        try:
            __import__(name)
        except ImportError:
            pass
        else:
            sys.exit(f"{{name}} is importable despite the blocker")

    import urllib.request

    from serving.client import rest

    metadata = json.load(sys.stdin)  # the metadata answer of a real export


    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()


    sent = []


    def urlopen(request, timeout=None):
        if request.data is None:
            return Response(json.dumps(metadata).encode())
        sent.append(json.loads(request.data))
        rows = len(sent[-1]["inputs"]["seed"])
        outputs = {{"sentences": ["a dog"] * rows, "z": [[0.5, 0.0]] * rows}}
        return Response(json.dumps({{"outputs": outputs}}).encode())


    urllib.request.urlopen = urlopen
    client = rest.RestClient("http://tfs:8501")
    out = client.sample(seed=1, temperature=0.5, num_rows=3)
    print(json.dumps({{
        "url": rest.rest_url("localhost:8501", version=3),
        "sent": sent,
        "client": {{k: [list(v.shape), v.dtype.name, v.tolist()[0]] for k, v in out.items()}},
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    }}))
    """
).format(blocked=BLOCKED)


def test_rest_works_with_tensorflow_grpc_and_vae_zoo_blocked():
    result = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT],
        cwd=REPO_ROOT,
        input=json.dumps(rest_metadata("sentence")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["url"] == "http://localhost:8501/v1/models/vae/versions/3:predict"
    assert got["sent"] == [
        {"signature_name": "sample", "inputs": {"seed": [1, 2, 3], "temperature": [0.5, 0.5, 0.5]}}
    ]
    assert got["client"] == {"sentences": [[3], "object", "a dog"], "z": [[3, 2], "float32", [0.5, 0.0]]}
    assert got["loaded"] == []


@pytest.mark.parametrize("module", ["rest.py", "rest_json.py", "common.py"])
def test_rest_modules_never_import_tensorflow_or_grpc(module):
    """rest.py and its in-package dependencies, rest_json.py and common.py, import nothing beyond the
    stdlib and numpy, even inside functions."""
    with open(os.path.join(CLIENT_DIR, module), encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    absolute, relative = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            absolute.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                relative.add(node.module)
            else:
                absolute.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    assert absolute <= allowed, sorted(absolute - allowed)
    assert not absolute & set(BLOCKED)
    in_package = {"rest.py": {"common", "rest_json"}, "rest_json.py": {"common"}, "common.py": set()}
    assert relative <= in_package[module], relative
