"""``finfeed classify`` and ``finfeed eval`` driven through the real CLI and a real backend.

The transformers backend runs the tiny Qwen3 saved by tests/fakes/tiny_qwen.py; outputs are
checked against that backend called directly, so the CLI must pass texts, order and every
aspect through faithfully.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finfeed.classifiers import build_classifier, parse_mapping, resolve_aspects
from finfeed.cli import main
from finfeed.settings import ClassifierSettings
from models.transformers_backend import TransformersClassifier
from pipeline.aspects import FORWARD_LOOKING, PREDICTION, SENTIMENT
from pipeline.errors import ConfigError
from tests.fakes.tiny_qwen import save_tiny_model

ASPECTS = [SENTIMENT, FORWARD_LOOKING, PREDICTION]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("cli") / "tiny-qwen3")


@pytest.fixture(scope="module")
def direct(model_dir: Path) -> TransformersClassifier:
    return TransformersClassifier({a.name: model_dir for a in ASPECTS}, device="cpu")


def _cli(model_dir: Path, *extra: str) -> list[str]:
    return [
        "classify",
        "--backend",
        "transformers",
        "--model-paths",
        str(model_dir),
        "--device",
        "cpu",
        *extra,
    ]


def test_file_mode_scores_every_line_in_order_with_error_records(
    model_dir, direct, tmp_path: Path, capsys
) -> None:
    good = [
        {"id": "a1", "text": "Apple beats earnings estimates.", "source": "wire"},
        {"id": "a2", "text": "Tesla cuts 2,000 jobs to reduce costs."},
        {"id": "a3", "text": "Nvidia expects margins to improve next year.", "tickers": ["NVDA"]},
    ]
    lines = [
        json.dumps(good[0]),
        "{not json",
        json.dumps(good[1]),
        json.dumps({"id": "b2", "text": "   "}),
        json.dumps({"id": "b3", "text": 42}),
        json.dumps({"id": "b4"}),
        json.dumps(["a", "list"]),
        json.dumps(good[2]),
    ]
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert (
        main(_cli(model_dir, "--input", str(src), "--output", str(dst), "--batch-size", "2")) == 0
    )
    out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert len(out) == len(lines)
    reasons = {r["line"]: r["error"]["reason"] for r in out if "error" in r}
    assert reasons == {
        2: "invalid_json",
        4: "empty_text",
        5: "text_not_string",
        6: "missing_text",
        7: "not_an_object",
    }
    assert out[3]["id"] == "b2" and out[1]["id"] is None
    want = direct.classify([g["text"] for g in good], ASPECTS)
    for rec, src_rec, scores in zip([out[0], out[2], out[7]], good, want, strict=True):
        for key, value in src_rec.items():
            assert rec[key] == value  # other fields pass through
        for aspect in ASPECTS:
            got = rec[aspect.name]
            assert got["label"] == scores[aspect.name].label
            assert got["probs"] == pytest.approx(dict(scores[aspect.name].probs), abs=1e-5)
            assert got["model_version"] == scores[aspect.name].model_version
    assert "8 lines written, 5 bad lines" in capsys.readouterr().err


def test_text_mode_prints_each_aspect(model_dir, direct, capsys) -> None:
    text = "Apple beats earnings estimates."
    assert main(_cli(model_dir, text)) == 0
    printed = capsys.readouterr().out
    scores = direct.classify([text], ASPECTS)[0]
    for aspect in ASPECTS:
        assert f"{aspect.name}: {scores[aspect.name].label}" in printed
    assert "█" in printed or "·" in printed


def test_text_mode_json_and_aspect_selection(model_dir, direct, capsys) -> None:
    assert (
        main(_cli(model_dir, "--aspects", "prediction", "--json", "Exxon reported flat sales."))
        == 0
    )
    rec = json.loads(capsys.readouterr().out)
    assert set(rec) == {"text", "prediction"}
    want = direct.classify(["Exxon reported flat sales."], [PREDICTION])[0]["prediction"]
    assert rec["prediction"]["probs"] == pytest.approx(dict(want.probs), abs=1e-5)


def test_unknown_aspect_is_a_clear_error(model_dir, capsys) -> None:
    assert main(_cli(model_dir, "--aspects", "nope", "text")) == 2
    assert "unknown aspect 'nope'" in capsys.readouterr().err


def test_eval_reports_metrics_and_skips_foreign_labels(
    model_dir, direct, tmp_path: Path, capsys
) -> None:
    rows = [
        {"text": "Apple beats earnings estimates.", "label": "positive"},
        {"text": "Tesla cuts 2,000 jobs to reduce costs.", "label": "negative"},
        {"text": "Exxon reported flat sales in the quarter.", "label": "neutral"},
        {"text": "Pfizer faces a regulatory probe.", "label": "Bearish"},
        {"text": "", "label": "neutral"},
    ]
    src = tmp_path / "labelled.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report_path = tmp_path / "report.json"
    code = main(
        [
            "eval",
            "--backend",
            "transformers",
            "--model-paths",
            str(model_dir),
            "--device",
            "cpu",
            "--input",
            str(src),
            "--aspect",
            "sentiment",
            "--json-out",
            str(report_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "labels outside" in printed and "'Bearish' x1" in printed
    assert "confusion matrix" in printed
    report = json.loads(report_path.read_text())
    preds = [
        s["sentiment"].label for s in direct.classify([r["text"] for r in rows[:3]], [SENTIMENT])
    ]
    truth = [r["label"] for r in rows[:3]]
    assert report["n"] == 3
    assert report["accuracy"] == pytest.approx(
        sum(p == t for p, t in zip(preds, truth, strict=True)) / 3
    )
    assert report["skipped"] == {"labels": {"Bearish": 1}, "rows": {"missing_text": 1}}


def test_factory_and_aspect_resolution(model_dir, tmp_path: Path) -> None:
    assert parse_mapping("sentiment=/a, prediction=/b", what="x") == {
        "sentiment": "/a",
        "prediction": "/b",
    }
    assert parse_mapping("/only", what="x") == {"*": "/only"}
    with pytest.raises(ConfigError):
        parse_mapping("sentiment=", what="x")
    extra = tmp_path / "aspects.yaml"
    extra.write_text(
        "aspects:\n  - name: guidance\n    labels: [lowered, raised]\n"
        "    system_prompt: Classify the guidance change as lowered or raised.\n"
    )
    settings = ClassifierSettings(
        backend="transformers",
        aspects="guidance,sentiment",
        aspects_file=extra,
        model_paths=f"sentiment={model_dir},guidance={model_dir}",
        device="cpu",
    )
    aspects = resolve_aspects(settings)
    assert [a.name for a in aspects] == ["guidance", "sentiment"]
    clf = build_classifier(settings, aspects)
    out = clf.classify(["Apple raised guidance."], aspects)[0]
    assert set(out) == {"guidance", "sentiment"} and set(out["guidance"].probs) == {
        "lowered",
        "raised",
    }
    missing = ClassifierSettings(
        backend="transformers", aspects="prediction", model_paths=f"sentiment={model_dir}"
    )
    with pytest.raises(ConfigError, match="no model directory for aspect 'prediction'"):
        build_classifier(missing)


def test_embedded_model_option_selects_the_artifact(tmp_path: Path, capsys, monkeypatch) -> None:
    """--embedded-model (env FINFEED_EMBEDDED_MODEL_DIR) scores with that artifact, not the
    shipped one; the flag wins over the environment."""
    from models.embedded import EmbeddedArtifact, EmbeddedClassifier
    from tests.unit.test_embedded_training import _random_artifact

    art = _random_artifact(tmp_path / "art", seed=5)
    version = EmbeddedArtifact.load(art).model_version
    text = "Acme cuts its dividend"
    monkeypatch.setenv("FINFEED_EMBEDDED_RUNTIME", "fp32")
    monkeypatch.setenv("FINFEED_EMBEDDED_MODEL_DIR", str(tmp_path / "missing"))
    args = ["classify", "--json", "--aspects", "sentiment", "--embedded-model", str(art), text]
    assert main(args) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    want = EmbeddedClassifier(art, use_onnx=False).classify([text], [SENTIMENT])[0]["sentiment"]
    assert (
        rec["sentiment"]["model_version"]
        == version
        != EmbeddedClassifier(use_onnx=False).model_version
    )
    assert rec["sentiment"]["probs"] == pytest.approx(dict(want.probs), abs=1e-5)
    # without the flag the environment's (missing) directory is used: a clear error, exit 2
    assert main([*args[:-3], text]) == 2
    assert "missing" in capsys.readouterr().err


def test_embedded_runtime_option_reaches_the_classifier(monkeypatch) -> None:
    """--embedded-runtime (env FINFEED_EMBEDDED_RUNTIME) picks int8 ONNX or fp32 torch; the
    fp32 runtime scores a snippet the same whatever it is batched with."""
    import argparse

    from finfeed.commands._options import add_classifier_options, classifier_settings

    parser = argparse.ArgumentParser()
    add_classifier_options(parser)
    monkeypatch.setenv("FINFEED_EMBEDDED_RUNTIME", "fp32")
    assert classifier_settings(parser.parse_args([])).embedded_runtime == "fp32"
    assert (
        classifier_settings(parser.parse_args(["--embedded-runtime", "int8"])).embedded_runtime
        == "int8"
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--embedded-runtime", "fp16"])
    exact = build_classifier(classifier_settings(parser.parse_args(["--aspects", "sentiment"])))
    assert exact.use_onnx is False
    texts = ["Acme cuts its dividend", "Shares of Acme rose 4% after earnings beat estimates"]
    alone = exact.classify(texts[:1], [SENTIMENT])[0]["sentiment"].probs
    batched = exact.classify(texts[::-1] * 3, [SENTIMENT])[1]["sentiment"].probs
    assert dict(batched) == pytest.approx(dict(alone), abs=1e-6)
    monkeypatch.delenv("FINFEED_EMBEDDED_RUNTIME")
    assert build_classifier(classifier_settings(parser.parse_args([]))).use_onnx is True
