"""The small languages of the command line: config overrides, data IDs, --where filters."""

from __future__ import annotations

import pytest

from provenance_graph.cli.query import parse_data_id, parse_where
from provenance_graph.cli.running import parse_config
from provenance_graph.errors import InvalidDataIdError, PipelineError, QuestionError


def test_config_overrides_are_label_field_and_a_yaml_value() -> None:
    parsed = parse_config(
        ["isr:saturation=60000", "calibrate:fail_on=[{visit: 2, detector: 1}]", "isr:sleep=0.5"]
    )
    assert parsed == {
        "isr": {"saturation": 60000, "sleep": 0.5},
        "calibrate": {"fail_on": [{"visit": 2, "detector": 1}]},
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [("isr.saturation=1", "is not LABEL:FIELD=VALUE"), ("isr:saturation", "is not LABEL:FIELD=VALUE"),
     (":x=1", "is not LABEL:FIELD=VALUE"), ("isr:x=[1", "the value is not YAML")],
)  # fmt: skip
def test_bad_config_overrides_name_themselves(item: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as err:
        parse_config([item])
    assert repr(item) in str(err.value)


def test_data_ids_are_json_or_key_values_and_come_out_canonical() -> None:
    canonical = '{"band":"g","patch":10,"skymap":"demo","tract":0}'
    assert parse_data_id("skymap=demo, tract=0,patch=10,band=g") == canonical
    assert parse_data_id('{"tract": 0, "band": "g", "skymap": "demo", "patch": 10}') == canonical
    assert parse_data_id("skymap=demo tract=0 patch=10 band=g") == canonical  # the human form
    with pytest.raises(
        InvalidDataIdError, match="cannot read data ID 'visit': 'visit' is not dimension=value"
    ):
        parse_data_id("visit")
    with pytest.raises(InvalidDataIdError, match="data ID '{not json' is not JSON"):
        parse_data_id("{not json")


def test_where_filters_take_several_values_per_dimension() -> None:
    assert parse_where(["visit=1,2", "band=g", "visit=3"]) == {"visit": [1, 2, 3], "band": ["g"]}
    with pytest.raises(QuestionError, match="is not DIMENSION=VALUE"):
        parse_where(["visit"])


def test_fail_on_takes_data_ids_as_they_are_printed() -> None:
    from provenance_graph.demo.tasks import DemoConfig

    parsed = parse_config(['calibrate:fail_on=["visit=2 detector=1", {visit: 3}]'])
    config = DemoConfig.model_validate(parsed["calibrate"])
    assert config.fail_on == [{"visit": 2, "detector": 1}, {"visit": 3}]
    with pytest.raises(InvalidDataIdError, match="'detector' is not dimension=value"):
        DemoConfig.model_validate({"fail_on": ["visit=2 detector"]})


def test_repeated_data_id_options_each_take_one_value_or_a_data_id() -> None:
    from provenance_graph.cli._data_ids import data_id_from_pairs
    from provenance_graph.model import DataId

    want = DataId.of(instrument="HSC", exposure=101, detector=0)
    assert data_id_from_pairs(["instrument=HSC", "exposure=101", "detector=0"]) == want  # -d K=V -d ...
    assert data_id_from_pairs(["instrument=HSC exposure=101", "detector=0"]) == want
    with pytest.raises(InvalidDataIdError, match="dimension 'detector' is given twice"):
        data_id_from_pairs(["detector=0", "detector=1"])
