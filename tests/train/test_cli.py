"""`redge train` and `redge eval` end to end on the micro data (JSON output, per-depth metrics)."""
import json

import pytest

from redge.cli import main


def test_train_then_eval_json(micro_data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--config", "tiny", "--device", "cpu", "--json", "--out", str(out)]
    for s in ("model.hidden_size=16", "model.puzzle_emb_ndim=16", "model.H_cycles=1", "model.L_cycles=1",
              f"data=[{micro_data}]", f"eval_data={{m: {micro_data}}}", "global_batch_size=8", "max_steps=6",
              "eval_limit=8"):
        args += ["--set", s]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 6 and set(summary["eval"]["raw/m"]) == {"1", "2", "4", "8", "16"}
    assert main(["eval", str(out / "model"), "--data", micro_data, "--depths", "1,3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    row = result["depths"]["3"]
    assert row["count"] == 16 and 0 <= row["non_given_cell_accuracy"] <= 1


def test_eval_rejects_bad_depths(micro_data, tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--data", micro_data, "--depths", "0,x"]) == 2


def test_unknown_config_is_input_error(capsys):
    assert main(["train", "--config", "no-such-config"]) == 2
    assert "no-such-config" in capsys.readouterr().err


@pytest.mark.parametrize("override, field", [("eval_data=null", "eval_data"), ("lr=fast", "lr"),
                                             ("global_batch_size=3.5", "global_batch_size"), ("data=[1, 2]", "data")])
def test_an_override_of_the_wrong_type_is_refused_by_name(override, field, tmp_path, capsys):
    """A `--set` value of the wrong type is an input error naming the field, before any data is read."""
    assert main(["train", "--config", "tiny", "--set", override, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"field {field}:" in err and "internal error" not in err


def test_a_config_file_with_a_wrongly_typed_field_names_the_file(tmp_path, capsys):
    path = tmp_path / "cfg.yaml"
    path.write_text("name: mine\nmodel: {arch: trm}\ndata: runs/data/x\n")  # a string where a list belongs
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "cfg.yaml" in err and "field data:" in err
