"""Settings are validated when made: a bad value stops start-up with one line naming it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from search.config import IndexSettings, Settings, SettingsError


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"NEWSEARCH_FUSION": "bogus"}, "NEWSEARCH_FUSION='bogus'"),
        ({"NEWSEARCH_MODE": "fuzzy"}, "NEWSEARCH_MODE"),
        ({"NEWSEARCH_ALPHA": "1.5"}, "NEWSEARCH_ALPHA"),
        ({"NEWSEARCH_DEPTH": "0"}, "NEWSEARCH_DEPTH"),
        ({"NEWSEARCH_RRF_K": "ten"}, "NEWSEARCH_RRF_K"),
        ({"NEWSEARCH_EMBED_BACKEND": "onnx"}, "NEWSEARCH_EMBED_BACKEND"),
        ({"NEWSEARCH_MSM_FRACTION": "1.5"}, "NEWSEARCH_MSM_FRACTION"),
        ({"NEWSEARCH_SERVE_THREADS": "-1"}, "NEWSEARCH_SERVE_THREADS"),
        ({"NEWSEARCH_MIN_TOKENS": "300"}, "min_tokens 300 > max_tokens 200"),
    ],
)
def test_bad_environment_is_one_clear_line(env, needle):
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_good_environment_is_parsed_and_typed():
    s = Settings.from_env(
        {
            "NEWSEARCH_FUSION": "weighted",
            "NEWSEARCH_ALPHA": "0.7",
            "NEWSEARCH_RRF_K": "10",
            "NEWSEARCH_MSM_FRACTION": "0.6",
            "NEWSEARCH_EMBED_TITLE": "0",
            "NEWSEARCH_INDEX_DIR": "/tmp/somewhere",
        }
    )
    assert (s.fusion, s.alpha, s.rrf_k, s.msm_fraction, s.embed_title) == (
        "weighted",
        0.7,
        10,
        0.6,
        False,
    )
    assert str(s.index_dir) == "/tmp/somewhere" and not isinstance(s.index_dir, str)


def test_direct_construction_and_replace_are_validated_too():
    with pytest.raises(ValueError):
        Settings(fusion="bogus")
    with pytest.raises(ValueError):
        replace(Settings(), duplicate_threshold=1.5)


def test_index_shape_round_trips():
    s = Settings(max_tokens=128, duplicate_threshold=0.9, fusion="weighted")
    shape = s.index_shape
    assert isinstance(shape, IndexSettings) and shape.max_tokens == 128
    back = Settings().shaped_like(shape)
    assert back.max_tokens == 128 and back.duplicate_threshold == 0.9
    assert back.fusion == "rrf"  # search settings are not part of the shape


def test_serve_with_a_bad_setting_exits_at_start_with_one_line(tmp_path):
    env = {"NEWSEARCH_FUSION": "bogus", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "search.cli", "serve", "--port", "0", "--index-dir", tmp_path],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "NEWSEARCH_FUSION='bogus'" in lines[0], proc.stderr


def test_a_misspelled_variable_is_named_not_silently_ignored(tmp_path):
    """NEWSEARCH_FUSON=weighted changes nothing; the commands say so, with the likely name."""
    from click.testing import CliRunner

    from search.cli import main
    from search.config import unknown_variables

    env = {"NEWSEARCH_FUSON": "weighted", "NEWSEARCH_FUSION": "rrf", "NEWSEARCH_SCREENSHOTS": "x"}
    assert unknown_variables(env) == [
        "NEWSEARCH_FUSON is not a newsearch setting, ignored; did you mean NEWSEARCH_FUSION?"
    ]
    assert unknown_variables({"NEWSEARCH_ZZZ": "1", "OTHER_FUSON": "1"}) == [
        "NEWSEARCH_ZZZ is not a newsearch setting, ignored"
    ]
    out = CliRunner().invoke(
        main, ["search", "x", "--index-dir", str(tmp_path)], env={"NEWSEARCH_FUSON": "weighted"}
    )
    assert out.exit_code == 1  # no index there; the warning comes first
    assert out.stderr.splitlines()[0] == (
        "warning: NEWSEARCH_FUSON is not a newsearch setting, ignored; "
        "did you mean NEWSEARCH_FUSION?"
    )
