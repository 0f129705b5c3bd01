"""Preset directories on a model hub: uploaded with the hub's own tool, loaded from a handle.

Upload the directory `model.save_to_preset("my_preset")` wrote, as it is (keras-hub's
layout: `config.json`, `metadata.json`, `model.weights.h5`, `assets/`):

* Hugging Face Hub: `huggingface-cli upload OWNER/NAME ./my_preset .` (or, in Python,
  `huggingface_hub.upload_folder(repo_id="OWNER/NAME", folder_path="./my_preset")`), then
  `vae_zoo.load("hf://OWNER/NAME")`; `hf://OWNER/NAME@REVISION` for a branch, tag or commit.
* Kaggle Models: `kagglehub.model_upload("OWNER/MODEL/keras/VARIATION", "./my_preset",
  license_name="Apache 2.0")` makes version N, then
  `vae_zoo.load("kaggle://OWNER/MODEL/keras/VARIATION/N")`; without `/N`, the latest version.

Loading needs neither `huggingface_hub` nor `kagglehub`: a handle names HTTP(S) URLs of the
directory's files,

* `hf://OWNER/NAME[@REVISION]`: `$HF_ENDPOINT/OWNER/NAME/resolve/REVISION/FILE`
  (`HF_ENDPOINT`, the variable `huggingface_hub` reads, default `https://huggingface.co`;
  REVISION default `main`);
* `kaggle://OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]`:
  `$KAGGLE_API_ENDPOINT/api/v1/models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION/download/FILE`
  (`KAGGLE_API_ENDPOINT`, kagglehub's variable, default `https://www.kaggle.com`; without a
  VERSION, the one `.../VARIATION/get` reports as `versionNumber`).

`metadata.json` is fetched first; each file it lists is then fetched into
`$VAE_ZOO_HOME/presets/<hub>/<handle>/` and checked against the SHA-256 listed (a cached file
that has it is not fetched again), and the directory loads like any preset directory. Append
`#sha256=<SHA-256 of metadata.json>` to pin the preset: metadata.json lists every other file's
hash, so the pin covers them all, and a pinned preset already in the cache loads offline.
Private or gated presets: `HF_TOKEN` (sent as a bearer token), `KAGGLE_USERNAME` and
`KAGGLE_KEY` (basic authentication), as the hubs' own clients read them.
"""

import base64
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request

from vae_zoo.presets import directory as directories
from vae_zoo.presets.checks import PresetChecksumError, home
from vae_zoo.utils.checksums import sha256
from vae_zoo.version import __version__

HUBS = {
    "hf": ("HF_ENDPOINT", "https://huggingface.co", "hf://OWNER/NAME or hf://OWNER/NAME@REVISION"),
    "kaggle": (
        "KAGGLE_API_ENDPOINT",
        "https://www.kaggle.com",
        "kaggle://OWNER/MODEL/FRAMEWORK/VARIATION or kaggle://OWNER/MODEL/FRAMEWORK/VARIATION/VERSION",
    ),
}
TIMEOUT_SECONDS = 60


def is_hub_handle(handle):
    return isinstance(handle, str) and handle.partition("://")[0] in HUBS and "://" in handle


def endpoint(hub):
    variable, default, _ = HUBS[hub]
    return (os.environ.get(variable) or default).rstrip("/")


def _quote(part):
    return urllib.parse.quote(part, safe="")


def _parts(handle, hub, spec, counts):
    parts = spec.split("/")
    if len(parts) not in counts or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{handle!r} is not a {hub} handle: expected {HUBS[hub][2]}")
    return parts


def parse(handle):
    """`(hub, parts, pin)` of a hub handle: the handle's path segments and the optional
    `#sha256=` pin of its metadata.json."""
    spec, _, fragment = handle.partition("#")
    pin = dict(urllib.parse.parse_qsl(fragment)).get("sha256") if fragment else None
    if fragment and (not pin or len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin.lower())):
        raise ValueError(
            f"{handle!r}: a hub handle is pinned with #sha256=<64 hex digits of its metadata.json>, "
            f"got #{fragment}"
        )
    hub, _, path = spec.partition("://")
    if hub == "hf":
        repo, _, revision = path.partition("@")
        parts = [*_parts(handle, hub, repo, (2,)), revision or "main"]
    else:
        parts = _parts(handle, hub, path, (4, 5))
        if len(parts) == 5 and not parts[4].isdigit():
            raise ValueError(f"{handle!r}: a Kaggle version is a number, got {parts[4]!r}")
    return hub, parts, pin.lower() if pin else None


def _request(url, hub):
    request = urllib.request.Request(url, headers={"User-Agent": f"vae_zoo/{__version__}"})
    authorization = None
    if hub == "hf" and os.environ.get("HF_TOKEN"):
        authorization = f"Bearer {os.environ['HF_TOKEN']}"
    if hub == "kaggle" and os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        user = f"{os.environ['KAGGLE_USERNAME']}:{os.environ['KAGGLE_KEY']}".encode()
        authorization = f"Basic {base64.b64encode(user).decode()}"
    if authorization:  # to the hub only: not forwarded when it redirects to a storage host
        request.add_unredirected_header("Authorization", authorization)
    return request


def _open(url, hub, handle, what):
    try:
        return urllib.request.urlopen(_request(url, hub), timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise FileNotFoundError(
                f"{handle}: {url} answered 404 Not Found; the preset has no {what} there "
                "(is it a directory written by save_to_preset, uploaded as it is?); nothing was loaded"
            ) from None
        raise ConnectionError(
            f"{handle}: {url} answered {error.code} {error.reason}"
            + (" (private or gated? set HF_TOKEN)" if hub == "hf" and error.code in (401, 403) else "")
            + (
                " (private? set KAGGLE_USERNAME and KAGGLE_KEY)"
                if hub == "kaggle" and error.code in (401, 403)
                else ""
            )
            + "; nothing was loaded"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        variable = HUBS[hub][0]
        raise ConnectionError(
            f"{handle}: could not reach {url} ({getattr(error, 'reason', error)}); set {variable} to "
            "a mirror, or download the directory and load its path; nothing was loaded"
        ) from None


def _download(url, target, hub, handle, what, expected=None):
    """Fetches `url` to `target` (through a partial file), checking its SHA-256 when `expected`."""
    partial = f"{target}.partial-{os.getpid()}"
    try:
        with _open(url, hub, handle, what) as response, open(partial, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
        actual = sha256(partial)
        if expected is not None and actual != expected:
            raise PresetChecksumError(
                f"{handle}: {url} did not serve the published {what}: its SHA-256 is {actual}, "
                f"expected {expected}; nothing was loaded"
            )
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def _latest_kaggle_version(parts, handle):
    url = f"{endpoint('kaggle')}/api/v1/models/{'/'.join(map(_quote, parts))}/get"
    with _open(url, "kaggle", handle, "model variation") as response:
        try:
            version = json.load(response)["versionNumber"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{handle}: {url} did not report the variation's versionNumber") from None
    return [*parts, str(int(version))]


def files_url(hub, parts):
    """The URL under which the files of the preset at `parts` are served (a file's path is appended)."""
    if hub == "hf":
        owner, name, revision = parts
        return f"{endpoint('hf')}/{_quote(owner)}/{_quote(name)}/resolve/{_quote(revision)}/"
    return f"{endpoint('kaggle')}/api/v1/models/{'/'.join(map(_quote, parts))}/download/"


def fetch(handle):
    """Downloads the preset directory a hub handle names (see the module docstring); returns its path."""
    hub, parts, pin = parse(handle)
    cache = os.path.join(home(), "presets", hub)
    if pin and os.path.isfile(os.path.join(cache, pin[:16], directories.METADATA_FILE)):
        folder = os.path.join(cache, pin[:16])  # a pinned preset is immutable: the checked cache serves it
        if sha256(os.path.join(folder, directories.METADATA_FILE)) == pin:
            directories.read_metadata(folder)
            return folder
    if hub == "kaggle" and len(parts) == 4:
        parts = _latest_kaggle_version(parts, handle)
    folder = (
        os.path.join(cache, pin[:16]) if pin else os.path.join(cache, *(p.replace("/", "--") for p in parts))
    )
    os.makedirs(folder, exist_ok=True)
    base = files_url(hub, parts)
    metadata_file = os.path.join(folder, directories.METADATA_FILE)
    fetched = _download(
        base + directories.METADATA_FILE,
        f"{metadata_file}.new-{os.getpid()}",
        hub,
        handle,
        directories.METADATA_FILE,
        expected=pin,
    )
    try:
        with open(fetched) as f:
            try:
                metadata = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{handle}: {base}{directories.METADATA_FILE} is not valid JSON ({error}); "
                    "nothing was loaded"
                ) from None
        directories.check_metadata(metadata, base + directories.METADATA_FILE)
        for name, record in sorted(metadata["files"].items()):
            target = os.path.join(folder, *name.split("/"))
            if os.path.isfile(target) and sha256(target) == record["sha256"]:
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            url = base + "/".join(map(_quote, name.split("/")))
            _download(url, target, hub, handle, name, expected=record["sha256"])
        os.replace(fetched, metadata_file)
    finally:
        if os.path.exists(fetched):
            os.remove(fetched)
    return folder
