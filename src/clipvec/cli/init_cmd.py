"""``clipvec init --model ./random-clip``: write ``./clipvec.toml``, the settings a folder remembers.

An explicit command, not a file written behind the user's back by the first run: a run
leaves nothing but its data where it ran (a failed start creates no file), and the user
decides what this folder remembers. The model's ways out (``model_help``) print this command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from clipvec.errors import ClipvecError
from clipvec.settings import Settings, config_path, read_config_file

HEADER = """\
# clipvec settings for this folder (written by `clipvec init`; edit freely).
# Every clipvec command, make run, bentoml serve service:vectorization, milvus_import.py and
# milvus_search.py run in this folder read it. CLIPVEC_* variables override it, flags both.
# Keys: the settings' names in lower case; `clipvec config` lists them all.
"""


def run_init(given: Mapping[str, Any], force: bool) -> int:
    """Write the settings ``given`` to ``./clipvec.toml``; 1 if it exists and ``force`` is not set."""
    if not given:
        print(
            "clipvec: init needs at least one setting, e.g. clipvec init --model ./random-clip",
            file=sys.stderr,
        )
        return 2
    values = {field: _validated(field, value) for field, value in given.items()}
    path = config_path()
    if path.exists():
        if not force:
            print(
                f"clipvec: {path} already exists; nothing was changed. "
                "--force changes the settings given and keeps the others.",
                file=sys.stderr,
            )
            return 1
        try:
            values = {**read_config_file(path), **values}
        except ClipvecError as err:  # unreadable: replaced by what was given
            print(f"clipvec: replacing it: {err.detail}", file=sys.stderr)
    path.write_text(render(values), encoding="utf-8")
    print(f"wrote {path}:")
    print(render(values, header=False), end="")
    model = values.get("model")
    if isinstance(model, str) and model.startswith((".", "/", "~")) and not Path(model).expanduser().is_dir():
        print(f"note: {model} is not a folder (yet)", file=sys.stderr)
    return 0


def _validated(field: str, value: Any) -> Any:
    """The value as the setting takes it (a bad one: ``ValidationError``, main() names the setting)."""
    info = Settings.model_fields[field]
    kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as err:
        problem = err.errors()[0]["msg"]
        raise ClipvecError(f"invalid setting --{field.replace('_', '-')}: {problem}") from None


def render(values: Mapping[str, Any], *, header: bool = True) -> str:
    """TOML ``key = value`` lines in the settings' order (JSON strings are valid TOML strings)."""
    lines = [HEADER] if header else []
    for field in Settings.model_fields:
        if field in values:
            lines.append(f"{field} = {_toml_value(values[field])}\n")
    return "".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)
