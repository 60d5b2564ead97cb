from pathlib import Path

import pytest

from rnn_recipes import config as C
from rnn_recipes import tasks
from rnn_recipes.errors import ConfigError


def test_parse_set_reads_toml_literals_and_bare_words():
    assert C.parse_set("model.units=128") == ("model.units", 128)
    assert C.parse_set('model.cell="lstm"') == ("model.cell", "lstm")
    assert C.parse_set("model.cell=lstm") == ("model.cell", "lstm")
    assert C.parse_set("model.bidirectional=false") == ("model.bidirectional", False)
    assert C.parse_set("train.learning_rate=3e-4") == ("train.learning_rate", 3e-4)
    assert C.parse_set('data.tfds_splits=["train", "test"]') == (
        "data.tfds_splits",
        ["train", "test"],
    )
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        C.parse_set("model.units")


def test_layers_apply_in_order(tmp_path: Path):
    extra = tmp_path / "extra.toml"
    extra.write_text("[model]\nunits = 16\nlayers = 2\n")
    resolved = C.load_config("sentiment", extra, ["model.units=8"], {"train.epochs": 2})
    cfg = resolved.config
    assert cfg.model.units == 8  # --set beats --config
    assert cfg.model.layers == 2  # --config beats the default
    assert cfg.train.epochs == 2  # dedicated options come last
    assert cfg.train.patience == 5  # from the built-in recipe file, over the task default of 3


def test_own_data_replaces_the_recipe_demo_source(tmp_path: Path):
    cfg = C.load_config("sentiment", sets=["data.train=a.csv", "data.test=b.csv"]).config
    assert cfg.data.path is None
    assert cfg.data.train == str(Path.cwd() / "a.csv")
    assert cfg.data.test == str(Path.cwd() / "b.csv")


def test_paths_in_a_config_file_are_relative_to_it(tmp_path: Path):
    sub = tmp_path / "cfg"
    sub.mkdir()
    (sub / "my.toml").write_text('[data]\ntrain = "data/train.csv"\n')
    cfg = C.load_config("sentiment", sub / "my.toml").config
    assert cfg.data.train == str(sub / "data" / "train.csv")


def test_user_recipe_file(tmp_path: Path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('task = "sentiment"\n[data]\npath = "x.csv"\n[model]\ncell = "lstm"\n')
    resolved = C.load_config(str(recipe))
    assert resolved.name == "mine"
    assert resolved.config.model.cell == "lstm"
    assert resolved.config.data.path == str(tmp_path / "x.csv")


def test_unknown_key_names_it_and_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        C.load_config("sentiment", sets=["model.unitz=3"])
    msg = str(err.value)
    assert "model.unitz" in msg and "units" in msg and "embedding_dim" in msg
    with pytest.raises(ConfigError, match="unknown config key 'modle'"):
        C.load_config("sentiment", sets=["modle.units=3"])


def test_wrong_type_names_key_value_and_expected_type():
    with pytest.raises(ConfigError) as err:
        C.load_config("sentiment", sets=["model.units=many"])
    assert "model.units" in str(err.value) and "'many'" in str(err.value)
    assert "an integer" in str(err.value)
    with pytest.raises(ConfigError, match="one of 'lstm', 'gru'"):
        C.load_config("sentiment", sets=["model.cell=transformer"])
    with pytest.raises(ConfigError, match="true or false"):
        C.load_config("sentiment", sets=["model.bidirectional=1"])


def test_ints_are_accepted_for_floats():
    cfg = C.load_config("sentiment", sets=["train.learning_rate=1"]).config
    assert cfg.train.learning_rate == 1.0 and isinstance(cfg.train.learning_rate, float)


def test_resolved_toml_round_trips(tmp_path: Path):
    resolved = C.load_config("sentiment", sets=["model.units=7", "data.train=t.csv"])
    (tmp_path / "config.toml").write_text(resolved.to_toml())
    again = C.load_run_config(tmp_path)
    assert again.config == resolved.config


def test_unknown_recipe_lists_builtins():
    with pytest.raises(ConfigError, match="unknown recipe 'sentimental'.*sentiment"):
        C.load_config("sentimental")


def test_recipe_syntax_error_gives_line_and_column(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "sentiment"\n[model\nunits = 3\n')
    with pytest.raises(ConfigError, match=r"line 2, column"):
        C.load_config(str(bad))


def test_recipe_with_unknown_or_missing_task(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "translation"\n')
    known = ", ".join(tasks.names())
    with pytest.raises(ConfigError, match=f"unknown task 'translation'; known tasks: {known}"):
        C.load_config(str(bad))
    bad.write_text("[model]\nunits = 3\n")
    with pytest.raises(ConfigError, match='task = "NAME"'):
        C.load_config(str(bad))


def test_cross_key_validation():
    with pytest.raises(ConfigError, match="train.epochs must be at least 1"):
        C.load_config("sentiment", overrides={"train.epochs": 0})
    with pytest.raises(ConfigError, match="only one data source"):
        C.load_config("sentiment", sets=["data.train=a.csv", "data.tfds=imdb_reviews"])


def test_builtin_recipes_are_listed_with_descriptions():
    recipes = C.builtin_recipes()
    assert "sentiment" in recipes and recipes["sentiment"]


def test_tfds_takes_its_own_splits_not_files():
    with pytest.raises(ConfigError, match="not with data.tfds"):
        C.load_config("sentiment", sets=["data.tfds=imdb_reviews", "data.test=t.csv"])


# --- issue 10: settings that made invalid files or wrong models ---------------------------------


def test_to_toml_round_trips_every_control_character_and_odd_text():
    import tomllib

    nasty = [
        "a\u0001b",
        "tab\there",
        "cr\rlf\n",
        "".join(chr(c) for c in range(0x20)) + "\x7f",
        'quote " and \\ backslash \\" mixed',
        "unicode: caf\u00e9 \u2014 \u4e2d\u6587 \U0001f600 \u2028 \x85",
        "",
    ]
    data = {"task": "t", "data": {f"k{i}": v for i, v in enumerate(nasty)}, "x": {"l": nasty}}
    assert tomllib.loads(C.to_toml(data)) == data


def test_control_character_setting_writes_a_loadable_config(tmp_path: Path):
    import tomllib

    resolved = C.load_config("sentiment", sets=['data.text_column="a\\u0001b"'])
    assert resolved.config.data.text_column == "a\u0001b"
    assert tomllib.loads(resolved.to_toml())["data"]["text_column"] == "a\u0001b"


def test_non_utf8_bytes_in_a_setting_are_refused():
    with pytest.raises(ConfigError, match="'data.text_column' holds bytes that are not UTF-8"):
        C.load_config("sentiment", sets=["data.text_column=a\udcffb"])


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.learning_rate=nan", "train.learning_rate must be a finite number above 0"),
        ("train.learning_rate=inf", "train.learning_rate must be a finite number above 0"),
        ("train.learning_rate=0", "train.learning_rate must be a finite number above 0"),
        ("train.clipnorm=nan", "train.clipnorm must be a finite number"),
        ("train.clipnorm=inf", "train.clipnorm must be a finite number"),
        ("train.clipnorm=-1.0", "train.clipnorm must be a finite number"),
        ("train.seed=-1", r"train.seed must be in \[0, 4294967295\], got -1"),
        (f"train.seed={10**20}", r"train.seed must be in \[0, 4294967295\]"),
        ("train.watch_from_epoch=0", "train.watch_from_epoch must be at least 1, got 0"),
        ("train.watch_from_epoch=31", r"train.watch_from_epoch \(31\) is after the last epoch"),
    ],
)
def test_validate_train_refuses_values_that_break_training(setting, message):
    with pytest.raises(ConfigError, match=message):
        C.load_config("sentiment", sets=[setting])


def test_validate_train_keeps_edge_values():
    for sets in (["train.seed=0"], [f"train.seed={2**32 - 1}"], ["train.clipnorm=0"]):
        C.load_config("sentiment", sets=sets)


def test_require_at_most_names_key_and_bound():
    from types import SimpleNamespace

    m = SimpleNamespace(units=10**9, nb_buckets=2**20, layers=3)
    with pytest.raises(ConfigError, match="model.units is 1000000000, more than the 4096"):
        C.require_at_most("model", m, ("units",))
    C.require_at_most("model", m, ("nb_buckets", "layers"))
    with pytest.raises(ConfigError, match="model.layers is 3, more than the 2"):
        C.require_at_most("model", m, ("layers",), 2)


@pytest.mark.parametrize("value", ["", ";;", "\n", '"'])
def test_require_delimiter_refuses_what_csv_cannot_use(value):
    from types import SimpleNamespace

    with pytest.raises(ConfigError, match="data.delimiter must be one character"):
        C.require_delimiter("data", SimpleNamespace(delimiter=value))
    C.require_delimiter("data", SimpleNamespace(delimiter=";"))


def test_edited_task_in_a_run_config_is_a_damaged_run_folder(tmp_path: Path):
    from rnn_recipes.errors import RecipeError

    (tmp_path / "config.toml").write_text(C.load_config("sentiment").to_toml())
    assert C.load_run_config(tmp_path).config.task == "sentiment"
    text = (tmp_path / "config.toml").read_text()
    for task in ("speech", "translation"):
        (tmp_path / "config.toml").write_text(text.replace('"sentiment"', f'"{task}"', 1))
        with pytest.raises(
            RecipeError, match=f"run folder {tmp_path} is damaged: its config.toml does not fit"
        ):
            C.load_run_config(tmp_path)
