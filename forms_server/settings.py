"""Every setting in one place: read from the environment, with defaults and help text."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

_ENV_PREFIX = "FORMS_"


@dataclass(frozen=True)
class Settings:
    """Server settings. Each field can be set with the environment variable FORMS_<NAME>."""

    #: Where the form definitions (*.yaml) are read from.
    forms_dir: Path = Path("form_definitions")
    #: Where forms.db, research.db and attachments are kept.
    data_dir: Path = Path("data")
    #: Address and port the server listens on.
    host: str = "127.0.0.1"
    port: int = 8000
    #: Secret for signing sessions; generated and kept in data_dir when empty.
    secret_key: str = ""
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 20 * 1024 * 1024
    #: The organisation's time zone: today() of a form filled without a device clock.
    timezone: str = "Asia/Shanghai"
    #: The organisation's name, at the top of every PDF.
    organisation_name: str = "北京外来务工人员服务中心"
    #: Log every request (address, method, path, status) to standard output. Off by
    #: default: the log would list who sent what from where, and it costs time.
    access_log: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then FORMS_* environment variables, then explicit overrides (not None)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, f.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        return replace(
            settings, forms_dir=Path(settings.forms_dir), data_dir=Path(settings.data_dir)
        )


def _convert(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            message = f"{_ENV_PREFIX}{name.upper()} must be a whole number, not {raw!r}"
            raise ValueError(message) from None
    if isinstance(default, Path):
        return Path(raw)
    return raw
