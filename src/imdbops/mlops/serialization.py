"""How registered models are written and read back: skops when possible, else cloudpickle.

skops is chosen when every type inside the pipeline is on our own trusted list; anything
else (e.g. a LightGBM booster) falls back to cloudpickle. The registry checks the file's
sha256 before either loader runs.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from imdbops.log import get_logger

log = get_logger("mlops.serialization")


class ModelIntegrityError(RuntimeError):
    """The serialized model does not match the hash recorded when it was registered."""


def trusted_types() -> list[str]:
    try:
        from imdbops.mlops.models import skops_trusted_types
    except ImportError:
        return []
    return list(skops_trusted_types())


def choose_serialization(model: Any) -> str:
    """``skops`` if skops can write the model and every untrusted type is on our list."""
    try:
        import skops.io

        blob = skops.io.dumps(model)
        untrusted = set(skops.io.get_untrusted_types(data=blob))
    except Exception as exc:  # skops raises many kinds of errors for unsupported objects
        log.info("skops cannot serialize the model (%s); using cloudpickle", exc)
        return "cloudpickle"
    missing = untrusted - set(trusted_types())
    if missing:
        log.info("types %s are not on the trusted list; using cloudpickle", sorted(missing))
        return "cloudpickle"
    return "skops"


@contextmanager
def compressed_skops() -> Iterator[None]:
    """While inside, ``skops.io.dump`` deflates what it writes.

    MLflow's sklearn flavour calls ``skops.io.dump(model, path)`` with skops' default,
    ``ZIP_STORED``: a TF-IDF vocabulary is one JSON node per entry, so the bundled set's
    champion took 32 MB on disk where deflate gives 0.95 MB, and every kept version cost
    that in the artifact store (docs/gc.md). skops reads either form, so only the writer
    changes; MLflow gives no option to pass the compression through.
    """
    import skops.io

    plain = skops.io.dump

    def deflated(obj: Any, file: Any, *, compression: int = zipfile.ZIP_DEFLATED,
                 compresslevel: int | None = None) -> None:  # fmt: skip
        plain(obj, file, compression=compression, compresslevel=compresslevel)

    skops.io.dump = deflated
    try:
        yield
    finally:
        skops.io.dump = plain


def model_file(model_dir: Path) -> tuple[Path, str]:
    """The serialized model file inside an MLflow model folder, and its format."""
    import yaml

    meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    flavor = meta["flavors"]["sklearn"]
    return model_dir / flavor["pickled_model"], flavor.get("serialization_format", "pickle")


def load_serialized(path: Path, fmt: str) -> Any:
    if fmt == "skops":
        import skops.io

        trusted = trusted_types()
        untrusted = set(skops.io.get_untrusted_types(file=path)) - set(trusted)
        if untrusted:
            raise ModelIntegrityError(
                f"{path} holds types outside imdbops' trusted list: {sorted(untrusted)}"
            )
        return skops.io.load(path, trusted=trusted)
    import cloudpickle

    with open(path, "rb") as fh:
        return cloudpickle.load(fh)
