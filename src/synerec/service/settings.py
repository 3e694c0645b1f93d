"""The service's settings: one typed, immutable object built from a file, the CLI and the env.

A settings file is TOML (``.toml``) or JSON (``.json``) with the fields of
:class:`ServiceSettings`, for example::

    model_dir = "models/ease"
    base_dataset = "ml-100k"
    api_keys = ["change-me"]
    max_body_bytes = 1048576
    cors_origins = []             # empty: CORS off

The same file may hold tables that other parts of the product read (``synerec serve`` reads
the web console's ``[console]`` table, :mod:`synerec.console.settings`); :func:`load_settings`
leaves out the tables it is told belong to others.

API keys come from that file *and* from the environment variable ``SYNEREC_API_KEYS``
(comma-separated); both sets are accepted. Read keys (``read_keys``, ``SYNEREC_READ_KEYS``), when
any is configured, protect the read endpoints; a write key is also a read key. Keys are held as
:class:`pydantic.SecretStr`, so they never appear in a ``repr`` or a log line.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from synerec.exceptions import ConfigError
from synerec.rules.spec import RulesError, parse_rules
from synerec.service.experiments import ExperimentConfig

__all__ = ["API_KEYS_ENV", "READ_KEYS_ENV", "ServiceSettings", "api_keys_from_env",
           "check_placement_name",
           "load_settings", "read_settings_file", "settings_error"]

#: Environment variable holding comma-separated API keys for the write endpoints.
API_KEYS_ENV = "SYNEREC_API_KEYS"
#: Environment variable holding comma-separated keys for the read endpoints.
READ_KEYS_ENV = "SYNEREC_READ_KEYS"

JsonScalar = str | int | float | bool | None


class ServiceSettings(BaseModel):
    """Everything :func:`synerec.service.create_app` needs; immutable once built.

    Attributes
    ----------
    model_dir
        The model directory served at first start (written by ``Recommender.save`` /
        ``synerec fit``). Retrained models are served instead once a retrain succeeded.
    state_dir
        Folder of the service's own state: ``events.sqlite3`` (the event store), ``models/``
        (retrained model versions), ``CURRENT`` (the version being served) and ``jobs/``.
        Default: ``<model_dir>.service`` beside the model directory.
    host, port
        Where ``synerec serve`` listens (``127.0.0.1:8000``).
    api_keys
        Keys accepted in the ``X-API-Key`` header of the write endpoints, in addition to those
        in ``$SYNEREC_API_KEYS``. With no key at all, every write is refused (401).
    max_body_bytes
        Larger request bodies are refused with 413 before they are parsed.
    max_events_per_batch
        Most events in one ``POST /v1/events`` (422 above it).
    max_n
        Largest list length a client may ask for (``n``).
    cors_origins
        Origins allowed by CORS; empty (default) means no CORS headers at all.
    base_dataset
        The data set the served model was trained on (a registered name such as ``ml-100k``
        or a path to an interaction file). A retrain fits on it plus the stored events. When
        ``None``, the training matrix stored in the served model directory is the base.
    base_dataset_options
        Keyword options of the base data set's loader (``{"random_state": 42}`` for
        ``demo-shop``).
    retrain_model, retrain_config
        Registered model name and options of retrained models; default: those of the served
        model.
    retrain_timeout_s
        A retrain running longer is killed and reported as failed (the old model stays).
    event_weights
        Weight of an event without a rating in a user's profile (see ``docs/service.md``):
        ``view`` 1, ``cart`` 2, ``purchase`` 3, and ``"none"`` for events without a type;
        divided by the largest weight.
    implied_ratings
        For explicit-rating models, the rating (as a fraction of the scale: 0 = low, 1 = high)
        that an event without a rating counts as when retraining; ``None`` leaves such events
        out of the retraining data (they still count in the profile scoring).
    similarity_neighbors
        Neighbours kept per item in the item-item cosine similarity the service computes for
        models that have none of their own.
    precompute_n, precompute_max_users
        Every known user's top-``precompute_n`` list is computed once per model version (and
        shared by the worker processes through a memory-mapped file); a request slices it.
        Disabled above ``precompute_max_users`` users.
    explain_precompute_n, explain_precompute_max_users
        For a model that explains its own lists (the hybrid), the reasons of every known
        user's first ``explain_precompute_n`` precomputed items are computed with them (once
        per model version, in one pass: about 10-40 ms per user on this 2-core machine), so
        that ``explain=true`` reads them; above ``explain_precompute_max_users`` users, or for
        a longer list, each request computes its own.
    workers
        Server processes (``synerec serve --workers``). They share the listening socket, the
        memory-mapped model and the event store; one of them at a time retrains.
    read_keys
        When any read key is configured (here or in ``$SYNEREC_READ_KEYS``), the read endpoints
        (recommendations, similar items, predictions, job states) need an ``X-API-Key`` that is
        a read key or a write key; ``/healthz`` and ``/metrics`` stay open.
    compute_threads, compute_queue, compute_queue_timeout_s
        CPU-bound work (explanations, event overlays, predictions, lists longer than the
        precomputed ones) runs on ``compute_threads`` threads per worker, never on the event
        loop; at most ``compute_queue`` requests wait for one, each at most
        ``compute_queue_timeout_s``: beyond that the answer is 503 with ``Retry-After``.
    response_cache_mb
        Encoded recommendation responses kept per worker (least recently used dropped); the
        key holds the model version and the user's newest pending event, so an entry is never
        stale. Explained lists and lists scored from pending events are the ones it saves.
    max_overlay_events
        Newest events per user (newer than the served model) used to serve that user; older
        ones wait for the next model.
    retrain_after_events, retrain_after_s
        Start a retrain on its own once this many events are newer than the served model, or
        once the oldest of them is this old (``None``: never).
    keep_model_versions
        Retrained model versions kept in ``models/`` (the served one included); older ones are
        deleted after each successful retrain.
    job_retention_s, max_job_records
        Finished retrain job records are deleted after this long, and beyond this many.
    idempotency_ttl_s
        How long an ``Idempotency-Key`` of an event batch is remembered.
    events_max_db_bytes
        Size limit of the event database (``None``: only the disk's); when reached, event
        batches are refused with 507 like on a full disk.
    header_timeout_s, body_timeout_s, keep_alive_s
        A client must send a request's headers within ``header_timeout_s`` and its body within
        ``body_timeout_s`` (else 408 and the connection is closed); idle keep-alive connections
        are closed after ``keep_alive_s``.
    retrain_nice
        Scheduling niceness added to the retrain worker process (0-19): serving comes first.
    reload_interval_s
        How often each worker checks for a model version published by another worker.
    items_file
        Products loaded into the service's catalogue at start (``synerec serve --items``):
        CSV, JSON or JSON lines with ``item_id``, ``title`` and optionally ``text``,
        ``category`` and shop fields; stored like products posted to ``/v1/items`` (an
        unchanged product is not rewritten).
    max_items_per_batch
        Most products in one ``POST /v1/items`` (422 above it).
    encoder_threads
        torch threads of a server process once the served model's text encoder is loaded
        (products are embedded one request at a time, many requests at once).
    placements
        Named placements (``home``, ``product-page``, ``cart``, ...) and their default rules
        (:mod:`synerec.rules.spec`: a JSON object, or an expression), e.g. the TOML table
        ``[placements.home]`` with ``in_stock = true``; a list request names one with
        ``placement=home``. An operator may save other rules for a placement in the console
        (kept in the state store); these are the defaults.
    base_rules
        Rules every list obeys (default ``{"in_stock": true}``: an item marked out of stock,
        ``PATCH /v1/items/{id}`` with ``{"in_stock": false}``, leaves every list at once);
        placement and request rules are added to them. ``{}``: none. They cost nothing while
        no item is affected by them.
    max_rule_candidates
        The most candidates a list's rules examine: the model's best ``max(3 n, 100)`` first,
        four times as many while too few pass, up to this many (then the list is short and
        says so).
    experiments
        A/B tests between served models (``[[experiments]]`` tables, see
        :class:`~synerec.service.experiments.ExperimentConfig`); more can be posted to
        ``/v1/experiments``.
    attribution_window_s
        A purchase without ``rec_id`` counts for the newest recommendation list that showed
        the item to the same user within this many seconds before it
        (:mod:`synerec.service.attribution`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: Path
    state_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_keys: tuple[SecretStr, ...] = ()
    max_body_bytes: int = Field(1_048_576, ge=64)
    max_events_per_batch: int = Field(10_000, ge=1, le=1_000_000)
    max_n: int = Field(100, ge=1, le=10_000)
    cors_origins: tuple[str, ...] = ()
    base_dataset: str | None = None
    base_dataset_options: dict[str, JsonScalar] = Field(default_factory=dict)
    retrain_model: str | None = None
    retrain_config: dict[str, Any] | None = None
    retrain_timeout_s: float = Field(3600.0, gt=0)
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {"view": 1.0, "cart": 2.0, "purchase": 3.0, "none": 1.0})
    implied_ratings: dict[str, float | None] = Field(
        default_factory=lambda: {"view": None, "cart": 0.75, "purchase": 1.0, "none": None})
    similarity_neighbors: int = Field(50, ge=1, le=10_000)
    precompute_n: int = Field(100, ge=0, le=10_000)
    precompute_max_users: int = Field(500_000, ge=0)
    explain_precompute_n: int = Field(10, ge=0, le=1_000)
    explain_precompute_max_users: int = Field(5_000, ge=0)
    workers: int = Field(1, ge=1, le=64)
    read_keys: tuple[SecretStr, ...] = ()
    compute_threads: int = Field(2, ge=1, le=64)
    compute_queue: int = Field(64, ge=0, le=100_000)
    compute_queue_timeout_s: float = Field(2.0, gt=0, le=600)
    response_cache_mb: float = Field(64.0, ge=0, le=65_536)
    max_overlay_events: int = Field(500, ge=1, le=1_000_000)
    retrain_after_events: int | None = Field(100_000, ge=1)
    retrain_after_s: float | None = Field(86_400.0, gt=0)
    keep_model_versions: int = Field(3, ge=1, le=1000)
    job_retention_s: float = Field(7 * 86_400.0, gt=0)
    max_job_records: int = Field(100, ge=1, le=100_000)
    idempotency_ttl_s: float = Field(86_400.0, gt=0)
    events_max_db_bytes: int | None = Field(None, ge=65_536)
    header_timeout_s: float = Field(10.0, gt=0, le=3600)
    body_timeout_s: float = Field(30.0, gt=0, le=3600)
    keep_alive_s: float = Field(5.0, gt=0, le=3600)
    retrain_nice: int = Field(10, ge=0, le=19)
    reload_interval_s: float = Field(1.0, gt=0, le=3600)
    items_file: Path | None = None
    max_items_per_batch: int = Field(1000, ge=1, le=100_000)
    encoder_threads: int = Field(1, ge=1, le=64)
    placements: dict[str, Any] = Field(default_factory=dict)
    max_rule_candidates: int = Field(1000, ge=1, le=1_000_000)
    base_rules: Any = Field(default_factory=lambda: {"in_stock": True})

    @pydantic.field_validator("placements")
    @classmethod
    def _placement_rules(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name, rules in v.items():
            check_placement_name(name)
            parse_rules(rules, where=name)
        return v

    @pydantic.field_validator("base_rules")
    @classmethod
    def _base_rules(cls, v: Any) -> Any:
        parse_rules(v, where="base_rules")
        return v
    experiments: tuple[ExperimentConfig, ...] = ()
    attribution_window_s: float = Field(86_400.0, ge=0)

    @pydantic.field_validator("event_weights")
    @classmethod
    def _positive_weights(cls, v: dict[str, float]) -> dict[str, float]:
        for name, w in v.items():
            if not w > 0:
                raise ValueError(f"event weight of {name!r} must be > 0, got {w}")
        return v

    @pydantic.field_validator("implied_ratings")
    @classmethod
    def _fractions(cls, v: dict[str, float | None]) -> dict[str, float | None]:
        for name, f in v.items():
            if f is not None and not 0.0 <= f <= 1.0:
                raise ValueError(f"implied rating of {name!r} must be in 0..1, got {f}")
        return v

    @property
    def resolved_state_dir(self) -> Path:
        """:attr:`state_dir`, or ``<model_dir>.service`` when not set."""
        if self.state_dir is not None:
            return self.state_dir
        return self.model_dir.parent / f"{self.model_dir.name}.service"

    def all_api_keys(self) -> list[bytes]:
        """The accepted keys (settings plus ``$SYNEREC_API_KEYS``), as UTF-8 bytes."""
        keys = [k.get_secret_value() for k in self.api_keys] + api_keys_from_env()
        return [k.encode("utf-8") for k in dict.fromkeys(keys) if k]

    def all_read_keys(self) -> list[bytes]:
        """The read keys (settings plus ``$SYNEREC_READ_KEYS``), as UTF-8 bytes."""
        keys = [k.get_secret_value() for k in self.read_keys] + api_keys_from_env(READ_KEYS_ENV)
        return [k.encode("utf-8") for k in dict.fromkeys(keys) if k]

    def to_env_json(self) -> str:
        """The settings as JSON with the secrets in clear (handed to worker processes)."""
        data = self.model_dump(mode="json")
        data["api_keys"] = [k.get_secret_value() for k in self.api_keys]
        data["read_keys"] = [k.get_secret_value() for k in self.read_keys]
        return json.dumps(data)


_PLACEMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_placement_name(name: str) -> str:
    """A placement name: 1 to 64 of ``a-z 0-9 _ -``, starting with a letter or digit."""
    if not _PLACEMENT.match(name):
        raise RulesError(f"invalid placement name {name!r}: 1 to 64 characters of a-z, 0-9, "
                         "'_' and '-', starting with a letter or digit")
    return name


def api_keys_from_env(name: str = API_KEYS_ENV) -> list[str]:
    """Keys listed (comma-separated) in ``$SYNEREC_API_KEYS`` (or ``name``); blanks ignored."""
    raw = os.environ.get(name, "")
    return [k.strip() for k in raw.split(",") if k.strip()]


def read_settings_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The table of a TOML (``.toml``) or JSON (``.json``) settings file.

    Relative ``model_dir`` and ``state_dir`` (and the experiments' variants' ``model_dir``)
    are made relative to the file's folder; the tables of other parts (``[console]``) are
    returned as they are.

    Raises
    ------
    ConfigError
        Unreadable file, or not a table of settings.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read settings file {p}: {exc}") from None
    try:
        loaded = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"settings file {p} is not valid "
                          f"{'JSON' if p.suffix.lower() == '.json' else 'TOML'}: {exc}"
                          ) from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"settings file {p} must hold a table/object of settings")
    for key in ("model_dir", "state_dir"):
        if isinstance(loaded.get(key), str) and not Path(loaded[key]).is_absolute():
            loaded[key] = str(p.parent / loaded[key])
    for exp in loaded.get("experiments") or []:  # and the experiments' variants' models
        for v in (exp.get("variants") or []) if isinstance(exp, dict) else []:
            if isinstance(v, dict) and isinstance(v.get("model_dir"), str) and \
                    not Path(v["model_dir"]).is_absolute():
                v["model_dir"] = str(p.parent / v["model_dir"])
    return loaded


def settings_error(what: str, exc: pydantic.ValidationError, fields: Collection[str],
                   prefix: str = "") -> ConfigError:
    """One :class:`ConfigError` naming every problem of a settings validation.

    ``what`` names the settings ("service settings"), ``fields`` are their names (listed for
    an unknown one) and ``prefix`` goes before each field's name (``"console."``).
    """
    problems = []
    for err in exc.errors():
        name = prefix + (".".join(str(x) for x in err["loc"]) or "settings")
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown setting {name!r} (settings: "
                            f"{', '.join(sorted(fields))})")
        elif err["type"] == "missing":
            problems.append(f"{name} is required")
        else:
            problems.append(f"{name}: {err['msg']}")
    return ConfigError(f"invalid {what}: " + "; ".join(problems))


def load_settings(path: str | os.PathLike[str] | None = None, *,
                  other_tables: Collection[str] = (), **overrides: Any) -> ServiceSettings:
    """Build settings from an optional TOML/JSON file, then ``overrides`` (``None`` ignored).

    Parameters
    ----------
    path
        A ``.toml`` or ``.json`` settings file (:func:`read_settings_file`). Relative paths
        inside it (``model_dir``, ``state_dir``) are taken relative to the file's folder.
    other_tables
        Tables of the file that other parts of the product read (``synerec serve`` passes
        ``("console",)``); they are left out here.
    **overrides
        Field values that replace the file's (the CLI options); ``None`` values are skipped.

    Raises
    ------
    ConfigError
        Unreadable file, unknown field (named) or invalid value.
    """
    values: dict[str, Any] = {}
    if path is not None:
        values.update({k: v for k, v in read_settings_file(path).items()
                       if k not in other_tables})
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServiceSettings.model_validate(values)
    except pydantic.ValidationError as exc:
        raise settings_error("service settings", exc, ServiceSettings.model_fields) from None
