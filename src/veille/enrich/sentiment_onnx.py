"""Optional sentiment backend: a transformer classifier exported to ONNX, from a local folder.

For installations that have a stronger model than the built-in one (e.g. an XLM-R tweet
sentiment model exported with Hugging Face Optimum). Nothing is ever downloaded: the folder
must hold ``model.onnx`` and ``tokenizer.json``, and may hold ``config.json`` whose
``id2label`` names the classes (names containing "neg", "neu", "pos"; ``LABEL_0..2`` are read
as negative, neutral, positive, the convention of the common tweet models).

Install with the ``transformer`` extra (onnxruntime, tokenizers).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from veille.enrich.sentiment import ModelFileError, to_sentiment
from veille.model import Sentiment

BATCH: Final = 32
MAX_TOKENS: Final = 128


def _class_columns(config: dict[str, Any], n_outputs: int) -> tuple[int | None, ...]:
    """Which output column holds negative, neutral and positive (None when absent)."""
    raw = config.get("id2label") or {}
    names = {int(k): str(v).lower() for k, v in raw.items()}
    if not names or all(v.startswith("label_") for v in names.values()):
        if n_outputs == 3:
            return (0, 1, 2)
        if n_outputs == 2:
            return (0, None, 1)
        raise ModelFileError(f"cannot tell the classes of a {n_outputs}-output model apart")
    found: list[int | None] = []
    for stem in ("neg", "neu", "pos"):
        cols = [i for i, name in names.items() if stem in name]
        found.append(cols[0] if cols else None)
    if found[0] is None or found[2] is None:
        raise ModelFileError(f"id2label {names} names no negative and positive classes")
    return tuple(found)


class OnnxSentiment:
    """Runs ``model.onnx`` with onnxruntime on ``tokenizer.json`` tokens, on the CPU."""

    def __init__(self, directory: Path, max_tokens: int = MAX_TOKENS) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelFileError(
                "the onnx sentiment backend needs the 'transformer' extra: "
                "pip install 'veille[transformer]'"
            ) from exc
        model, tok = directory / "model.onnx", directory / "tokenizer.json"
        for required in (model, tok):
            if not required.is_file():
                raise ModelFileError(f"{required} not found (the onnx backend needs it)")
        config_path = directory / "config.json"
        try:
            config = json.loads(config_path.read_text("utf-8")) if config_path.is_file() else {}
            self.tokenizer = Tokenizer.from_file(str(tok))
            self.session = onnxruntime.InferenceSession(
                str(model), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime and tokenizers raise their own types
            raise ModelFileError(
                f"cannot load the onnx sentiment model in {directory}: {exc}"
            ) from exc
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding()
        self.inputs = {i.name for i in self.session.get_inputs()}
        if "input_ids" not in self.inputs:
            raise ModelFileError(f"{model} has no input named input_ids: {sorted(self.inputs)}")
        n_outputs = self.session.get_outputs()[0].shape[-1]
        if not isinstance(n_outputs, int):
            n_outputs = len(config.get("id2label") or {}) or 3
        self.columns = _class_columns(config, n_outputs)

    def _probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        encodings = self.tokenizer.encode_batch(list(texts))
        feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64)}
        if "attention_mask" in self.inputs:
            feed["attention_mask"] = np.array([e.attention_mask for e in encodings], np.int64)
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        logits = np.asarray(self.session.run(None, feed)[0], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
        return probs

    def analyze_many(self, texts: Sequence[str], langs: Sequence[str]) -> list[Sentiment]:
        """Sentiment of each text, in batches (the language is not needed by the model)."""
        out: list[Sentiment] = []
        for start in range(0, len(texts), BATCH):
            probs = self._probabilities(texts[start : start + BATCH])
            for row in probs:
                three = [float(row[c]) if c is not None else 0.0 for c in self.columns]
                total = sum(three) or 1.0
                out.append(to_sentiment([p / total for p in three]))
        return out

    def analyze(self, text: str, lang: str = "") -> Sentiment:
        """Sentiment of one text."""
        return self.analyze_many([text], [lang])[0]
