"""One typed configuration, read in layers.

Precedence, lowest first: built-in defaults < user file (``config.toml`` in the platformdirs
config folder) < project file (``.gemmacode.toml`` at the repository root) < environment
(``GEMMACODE_<SECTION>_<KEY>``) < command-line flags. Every field is documented where it is
declared; ``.config-example/`` shows both files with comments.

``GEMMACODE_CONFIG_DIR`` moves the user config folder (tests use it so they never read the
real one); ``GEMMACODE_CACHE_DIR`` moves the cache folder; ``GEMMACODE_SKIP=1`` is the commit
hook's bypass switch, not a setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from gemmacode.errors import ConfigError

PROJECT_FILE = ".gemmacode.toml"
USER_FILE = "config.toml"
ENV_PREFIX = "GEMMACODE_"


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass
class BackendSettings:
    kind: str = field(default="ollama", metadata=_doc("ollama, embedded or openai"))
    model: str = field(
        default="gemma4:e4b",
        metadata=_doc(
            "Model name: an Ollama tag, an embedded alias (smollm2, gemma3-270m) "
            "or the served name on an OpenAI-compatible server"
        ),
    )
    host: str = field(
        default="",
        metadata=_doc("Ollama URL; empty means OLLAMA_HOST, else http://127.0.0.1:11434"),
    )
    openai_base_url: str = field(
        default="http://127.0.0.1:8000/v1",
        metadata=_doc("Base URL of an OpenAI-compatible server (vLLM, llama-server)"),
    )
    openai_api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata=_doc("Name of the environment variable holding the API key, if any"),
    )
    gguf_path: str = field(
        default="",
        metadata=_doc("Embedded backend: a GGUF file; empty means resolve the model name"),
    )
    keep_alive: str = field(
        default="5m", metadata=_doc("How long Ollama keeps the model loaded after a request")
    )
    think: bool = field(default=False, metadata=_doc("Let Gemma 4 think before answering"))
    timeout_s: float = field(
        default=600.0, metadata=_doc("Seconds without progress before a request is abandoned")
    )
    threads: int = field(default=0, metadata=_doc("Embedded backend CPU threads; 0 = auto"))


@dataclass
class SamplingSettings:
    temperature: float = field(default=0.2, metadata=_doc("Low for analysis (0.1-0.3)"))
    top_p: float = field(default=0.9, metadata=_doc("Nucleus sampling"))
    top_k: int = field(default=40, metadata=_doc("Top-k sampling"))
    seed: int = field(default=0, metadata=_doc("Sampling seed; 0 = random"))
    num_predict: int = field(
        default=1024, metadata=_doc("Answer reserve: most tokens the model may generate")
    )


@dataclass
class ContextSettings:
    num_ctx: int = field(
        default=0, metadata=_doc("Pin the context size; 0 = choose it from free GPU memory")
    )
    min_ctx: int = field(default=2048, metadata=_doc("Smallest context size ever chosen"))
    max_ctx: int = field(
        default=32768, metadata=_doc("User cap on the context size (the model's own max applies)")
    )
    token_margin: float = field(
        default=0.08,
        metadata=_doc("Share of num_ctx kept free for tokenizer error (tiktoken vs the model)"),
    )
    token_prior: float = field(
        default=1.3,
        metadata=_doc(
            "Model tokens per tiktoken token assumed before a model's first "
            "calibration (Gemma needs 1.03-1.58x on code; erring high is safe)"
        ),
    )
    vram_margin_mib: int = field(
        default=384, metadata=_doc("GPU memory kept free for compute buffers and the desktop")
    )
    step_up_hold_s: float = field(
        default=30.0, metadata=_doc("Headroom must hold this long before the context grows")
    )
    step_up_min_interval_s: float = field(
        default=120.0, metadata=_doc("Least time between two context increases")
    )
    kv_cache_type: str = field(
        default="f16", metadata=_doc("The server's OLLAMA_KV_CACHE_TYPE: f16, q8_0 or q4_0")
    )
    num_parallel: int = field(default=1, metadata=_doc("The server's OLLAMA_NUM_PARALLEL"))
    num_batch: int = field(default=512, metadata=_doc("Prompt batch size sent to the server"))


@dataclass
class GpuSettings:
    poll_interval_s: float = field(default=1.0, metadata=_doc("Seconds between GPU samples"))
    device: int = field(default=0, metadata=_doc("NVML index of the GPU the server uses"))


@dataclass
class IndexSettings:
    max_file_bytes: int = field(
        default=1024 * 1024, metadata=_doc("Files larger than this are skipped")
    )
    exclude: list[str] = field(
        default_factory=list, metadata=_doc("Extra glob patterns to leave out of the index")
    )
    workers: int = field(default=0, metadata=_doc("Parser processes for a cold index; 0 = auto"))
    cache_dir: str = field(
        default="", metadata=_doc("Where the index cache lives; empty = platform cache folder")
    )


@dataclass
class MapSettings:
    tokens: int = field(default=2048, metadata=_doc("Default repo map size in tokens"))


@dataclass
class ChunkSettings:
    tokens: int = field(default=1024, metadata=_doc("Default chunk budget in tokens"))


@dataclass
class ReviewSettings:
    focus: list[str] = field(
        default_factory=list,
        metadata=_doc("Default focus areas: security, bugs, performance, style"),
    )
    extra_instructions: str = field(
        default="", metadata=_doc("Project-specific instructions added when --extra is given")
    )
    fail_on: str = field(
        default="high",
        metadata=_doc(
            "Exit 1 when a finding is at least this severe: critical, high, medium, "
            "low, info or never"
        ),
    )


@dataclass
class TuiSettings:
    mouse: bool = field(
        default=True,
        metadata=_doc(
            "Let the terminal UI use the mouse; false for slow SSH links (--no-mouse); off by "
            "default inside GNU screen, which holds Esc back while an app reads the mouse"
        ),
    )
    theme: str = field(
        default="textual-dark",
        metadata=_doc(
            "Colour theme: textual-dark, textual-light (light backgrounds), ansi-dark or "
            "ansi-light (the terminal's own 16 colours), or any built-in Textual theme"
        ),
    )
    keys: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            'Remapped keys, action id = Textual key names, e.g. { review = "f5", '
            'help = "f1,question_mark" }; docs/tui.md lists the ids'
        ),
    )


@dataclass
class HookSettings:
    mode: str = field(
        default="block",
        metadata=_doc(
            "Commit hook: block (exit 1 on findings at or above fail_on), warn (report, never "
            "block) or off (do nothing)"
        ),
    )
    fail_on: str = field(
        default="high",
        metadata=_doc(
            "Block a commit for findings at least this severe on lines it adds or changes: "
            "critical, high, medium, low, info or never"
        ),
    )
    timeout_s: float = field(
        default=60.0,
        metadata=_doc("Deadline for the whole hook run; the review is sized to finish within it"),
    )
    connect_timeout_s: float = field(
        default=2.0,
        metadata=_doc("Part of timeout_s for reaching the model server; the rest is for answers"),
    )
    strict: bool = field(
        default=False,
        metadata=_doc(
            "Block (exit 3) when the review cannot run: no server, model missing, deadline "
            "passed; false lets the commit through with one warning line"
        ),
    )
    baseline: str = field(
        default=".gemmacode-baseline.json",
        metadata=_doc("Accepted findings' fingerprints, relative to the repository root"),
    )
    review_docs: bool = field(
        default=False,
        metadata=_doc(
            "Send a change of only Markdown, reStructuredText or text files to the model"
        ),
    )
    temperature: float = field(
        default=0.1, metadata=_doc("Sampling temperature of hook reviews (low: a stable gate)")
    )
    seed: int = field(default=42, metadata=_doc("Fixed sampling seed of hook reviews"))
    num_predict: int = field(
        default=512, metadata=_doc("Answer reserve of hook reviews (the findings JSON alone)")
    )


@dataclass
class Settings:
    backend: BackendSettings = field(default_factory=BackendSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    gpu: GpuSettings = field(default_factory=GpuSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    map: MapSettings = field(default_factory=MapSettings)
    chunks: ChunkSettings = field(default_factory=ChunkSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    tui: TuiSettings = field(default_factory=TuiSettings)
    hook: HookSettings = field(default_factory=HookSettings)


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("GEMMACODE_CONFIG_DIR"):
        return Path(env["GEMMACODE_CONFIG_DIR"])
    import platformdirs

    return Path(platformdirs.user_config_dir("gemmacode"))


def private_dir(path: Path) -> Path:
    """Create ``path`` (and any missing parent) readable by this user only (0700), and
    tighten it to 0700 if it exists with more: caches hold private code. Raises OSError."""
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # made by another process meanwhile
            pass
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def user_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("GEMMACODE_CACHE_DIR"):
        return Path(env["GEMMACODE_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("gemmacode"))


def _sections() -> dict[str, type[Any]]:
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _coerce(value: Any, typ: Any, where: str, key: str, from_text: bool) -> Any:
    """Check (or, from environment text, convert) one value against its declared type."""
    name = getattr(typ, "__name__", str(typ))
    if typ is bool:
        if from_text and isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
        elif isinstance(value, bool):
            return value
    elif typ is int:
        if from_text and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typ is float:
        if from_text and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif typ is str:
        if isinstance(value, str):
            return value
    elif str(typ).startswith("list"):
        name = "list of strings"
        if from_text and isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif str(typ).startswith("dict"):
        name = "a table of strings"
        if from_text and isinstance(value, str):
            pairs = [p.partition("=") for p in value.split(";") if p.strip()]
            if all(sep and k.strip() for k, sep, _ in pairs):
                return {k.strip(): v.strip() for k, _, v in pairs}
        elif isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return dict(value)
    raise ConfigError(
        f"{where}: '{key}' must be {name}, got {value!r}",
        f"fix the value of '{key}' in {where}",
    )


def apply_mapping(settings: Settings, data: Mapping[str, Any], where: str) -> None:
    """Merge one parsed TOML document into ``settings``; unknown keys are errors, not ignored."""
    sections = _sections()
    for sec_name, sec_value in data.items():
        if sec_name not in sections:
            raise ConfigError(
                f"{where}: unknown section [{sec_name}]{_suggest(sec_name, list(sections))}",
                f"valid sections are {', '.join(sections)}",
            )
        if not isinstance(sec_value, Mapping):
            raise ConfigError(
                f"{where}: '{sec_name}' must be a table", f"write it as [{sec_name}] with keys"
            )
        section = getattr(settings, sec_name)
        hints = get_type_hints(type(section))
        for key, value in sec_value.items():
            if key not in hints:
                raise ConfigError(
                    f"{where}: unknown key '{sec_name}.{key}'{_suggest(key, list(hints))}",
                    f"valid keys in [{sec_name}] are {', '.join(hints)}",
                )
            setattr(section, key, _coerce(value, hints[key], where, f"{sec_name}.{key}", False))


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read: its regexes cost ~5 ms to compile

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})", "fix the syntax at that line") from exc
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot be read ({exc.strerror})", "check its permissions"
        ) from exc


def apply_env(settings: Settings, env: Mapping[str, str]) -> None:
    """Apply ``GEMMACODE_<SECTION>_<KEY>`` variables; an unknown one is an error."""
    sections = _sections()
    # Not settings: where config and caches live, and the commit hook's bypass switch.
    reserved = {"GEMMACODE_CONFIG_DIR", "GEMMACODE_CACHE_DIR", "GEMMACODE_SKIP"}
    for var, raw in env.items():
        if not var.startswith(ENV_PREFIX) or var in reserved:
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        sec_name = next((s for s in sections if rest.startswith(s + "_")), None)
        if sec_name is None:
            raise ConfigError(
                f"environment: unknown variable {var}",
                f"use GEMMACODE_<SECTION>_<KEY> with a section of {', '.join(sections)}",
            )
        key = rest[len(sec_name) + 1 :]
        section = getattr(settings, sec_name)
        hints = get_type_hints(type(section))
        if key not in hints:
            raise ConfigError(
                f"environment: unknown variable {var}{_suggest(key, list(hints))}",
                f"valid keys in {sec_name} are {', '.join(hints)}",
            )
        setattr(section, key, _coerce(raw, hints[key], f"environment {var}", key, True))


def set_by_user(project_root: Path | None, env: Mapping[str, str], dotted: str) -> bool:
    """Whether the user's or the project's config file, or a ``GEMMACODE_`` variable, sets
    ``dotted`` (``"tui.mouse"``), so a default chosen for the situation must not override it.
    Unreadable files count as not setting it (:func:`load_settings` reports them)."""
    section, key = dotted.split(".", 1)
    if ENV_PREFIX + f"{section}_{key}".upper() in env:
        return True
    files = [user_config_dir(env) / USER_FILE]
    if project_root is not None:
        files.append(project_root / PROJECT_FILE)
    for path in files:
        if not path.is_file():
            continue
        try:
            table = _read_toml(path).get(section)
        except ConfigError:
            continue
        if isinstance(table, dict) and key in table:
            return True
    return False


def load_settings(
    project_root: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings for one run.

    ``overrides`` are command-line flags as dotted keys (``{"backend.model": "gemma4:e2b"}``);
    a ``None`` value means the flag was not given.
    """
    env = os.environ if env is None else env
    settings = Settings()
    user_file = user_config_dir(env) / USER_FILE
    if user_file.is_file():
        apply_mapping(settings, _read_toml(user_file), str(user_file))
    if project_root is not None:
        project_file = project_root / PROJECT_FILE
        if project_file.is_file():
            apply_mapping(settings, _read_toml(project_file), str(project_file))
    apply_env(settings, env)
    if overrides:
        nested: dict[str, dict[str, Any]] = {}
        for dotted, value in overrides.items():
            if value is None:
                continue
            sec, key = dotted.split(".", 1)
            nested.setdefault(sec, {})[key] = value
        apply_mapping(settings, nested, "command line")
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Range and enum checks that types alone cannot express."""
    checks: list[tuple[bool, str, str]] = [
        (
            settings.backend.kind in ("ollama", "embedded", "openai"),
            "backend.kind",
            "use ollama, embedded or openai",
        ),
        (
            0.0 <= settings.sampling.temperature <= 2.0,
            "sampling.temperature",
            "use a value between 0 and 2 (0.1-0.3 for reviews)",
        ),
        (0.0 < settings.sampling.top_p <= 1.0, "sampling.top_p", "use a value in (0, 1]"),
        (settings.sampling.num_predict > 0, "sampling.num_predict", "use a positive number"),
        (
            settings.context.num_ctx == 0 or settings.context.num_ctx >= 256,
            "context.num_ctx",
            "use 0 (automatic) or at least 256",
        ),
        (
            settings.context.min_ctx <= settings.context.max_ctx,
            "context.min_ctx",
            "min_ctx must not exceed max_ctx",
        ),
        (
            0.5 <= settings.context.token_prior <= 2.0,
            "context.token_prior",
            "use a factor between 0.5 and 2",
        ),
        (
            0.0 <= settings.context.token_margin < 0.5,
            "context.token_margin",
            "use a share between 0 and 0.5",
        ),
        (
            settings.context.kv_cache_type in ("f16", "q8_0", "q4_0"),
            "context.kv_cache_type",
            "use f16, q8_0 or q4_0",
        ),
        (settings.context.num_parallel >= 1, "context.num_parallel", "use 1 or more"),
        (settings.index.max_file_bytes > 0, "index.max_file_bytes", "use a positive size"),
        (settings.map.tokens > 0, "map.tokens", "use a positive number"),
        (settings.chunks.tokens >= 16, "chunks.tokens", "use at least 16"),
        (
            settings.review.fail_on in ("critical", "high", "medium", "low", "info", "never"),
            "review.fail_on",
            "use critical, high, medium, low, info or never",
        ),
        (
            settings.hook.mode in ("block", "warn", "off"),
            "hook.mode",
            "use block, warn or off",
        ),
        (
            settings.hook.fail_on in ("critical", "high", "medium", "low", "info", "never"),
            "hook.fail_on",
            "use critical, high, medium, low, info or never",
        ),
        (settings.hook.timeout_s > 0, "hook.timeout_s", "use a positive number of seconds"),
        (
            0 < settings.hook.connect_timeout_s < settings.hook.timeout_s,
            "hook.connect_timeout_s",
            "use a positive number of seconds below hook.timeout_s",
        ),
        (
            0.0 <= settings.hook.temperature <= 2.0,
            "hook.temperature",
            "use a value between 0 and 2 (0-0.2 for a stable gate)",
        ),
        (settings.hook.num_predict > 0, "hook.num_predict", "use a positive number"),
        (bool(settings.hook.baseline.strip()), "hook.baseline", "give a file name"),
        (
            all(f in ("security", "bugs", "performance", "style") for f in settings.review.focus),
            "review.focus",
            "use any of security, bugs, performance, style",
        ),
    ]
    for ok, key, fix in checks:
        if not ok:
            section, name = key.split(".")
            value = getattr(getattr(settings, section), name)
            raise ConfigError(f"setting '{key}' has a bad value {value!r}", fix)


def describe() -> list[tuple[str, str, Any]]:
    """Every setting as (dotted key, documentation, default), for docs and ``config`` output."""
    out: list[tuple[str, str, Any]] = []
    defaults = Settings()
    for sec in dataclasses.fields(Settings):
        section = getattr(defaults, sec.name)
        for f in dataclasses.fields(section):
            out.append(
                (f"{sec.name}.{f.name}", f.metadata.get("doc", ""), getattr(section, f.name))
            )
    return out
