"""The optional transformer backend, proven on a tiny ONNX model built here (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the 'test' extra installs onnx")
pytest.importorskip("onnxruntime", reason="the 'transformer' extra installs onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from tokenizers.models import WordLevel  # noqa: E402
from tokenizers.pre_tokenizers import Whitespace  # noqa: E402

from veille.enrich.sentiment import ModelFileError, load_backend  # noqa: E402
from veille.enrich.sentiment_onnx import OnnxSentiment  # noqa: E402

VOCAB = {"[PAD]": 0, "[UNK]": 1, "good": 2, "bad": 3, "great": 4}


def build_model(folder: Path, weights: list[list[float]], id2label: dict[str, str] | None) -> Path:
    """A bag-of-embeddings classifier with the inputs a Hugging Face ONNX export has."""
    folder.mkdir(parents=True, exist_ok=True)
    n_out = len(weights[0])
    emb = np.zeros((len(VOCAB), 2), dtype=np.float32)
    emb[VOCAB["good"]] = [1, 0]
    emb[VOCAB["great"]] = [2, 0]
    emb[VOCAB["bad"]] = [0, 1]
    bias = np.zeros(n_out, dtype=np.float32)
    if n_out == 3:
        bias[1] = 0.1  # no evidence: neutral
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["vectors"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["vectors", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "w"], ["scores"]),
        helper.make_node("Add", ["scores", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-sentiment",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_out])],
        initializer=[
            numpy_helper.from_array(emb, "emb"),
            numpy_helper.from_array(np.array(weights, dtype=np.float32), "w"),
            numpy_helper.from_array(bias, "b"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, folder / "model.onnx")
    tok = Tokenizer(WordLevel(VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    if id2label is not None:
        (folder / "config.json").write_text(json.dumps({"id2label": id2label}))
    return folder


def test_three_class_model_with_named_labels(tmp_path: Path) -> None:
    folder = build_model(
        tmp_path / "m",
        [[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]],
        {"0": "negative", "1": "neutral", "2": "positive"},
    )
    backend = load_backend("onnx", folder)
    assert isinstance(backend, OnnxSentiment)
    assert backend.analyze("good good").label == "positive"
    assert backend.analyze("bad").label == "negative"
    assert backend.analyze("nothing here").label == "neutral"
    # Batches pad to the longest text; padding must not change a short text's answer.
    texts = ["good", "bad bad bad bad bad bad bad bad", "great"] * 20
    batch = backend.analyze_many(texts, ["en"] * len(texts))
    assert batch == [backend.analyze(t) for t in texts]
    assert batch[0].polarity > 0 > batch[1].polarity


def test_label_order_comes_from_config(tmp_path: Path) -> None:
    # Columns deliberately in the order positive, negative (a two-class model).
    folder = build_model(tmp_path / "m2", [[1.0, -1.0], [-1.0, 1.0]], {"0": "POS", "1": "NEG"})
    backend = OnnxSentiment(folder)
    assert backend.columns == (1, None, 0)
    assert backend.analyze("good").label == "positive"
    assert backend.analyze("bad").label == "negative"


def test_generic_label_names_follow_the_tweet_model_convention(tmp_path: Path) -> None:
    folder = build_model(tmp_path / "m3", [[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], None)
    assert OnnxSentiment(folder).analyze("great").label == "positive"


def test_missing_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"model\.onnx not found"):
        OnnxSentiment(tmp_path)
    folder = build_model(tmp_path / "m4", [[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], None)
    (folder / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="cannot load"):
        OnnxSentiment(folder)


def test_labels_without_polarity_names_are_refused(tmp_path: Path) -> None:
    folder = build_model(
        tmp_path / "m5", [[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], {"0": "a", "1": "b", "2": "c"}
    )
    with pytest.raises(ModelFileError, match="no negative and positive"):
        OnnxSentiment(folder)
