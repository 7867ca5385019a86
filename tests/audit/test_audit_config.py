"""The ``[audit]`` table and the audit settings of ``[monitor]``: read, resolved, reported."""

from __future__ import annotations

import pytest

from monitor.config.parse import parse_config
from monitor.config.settings import WAYBACK_ENDPOINT
from monitor.errors import ConfigError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path="/etc/monitor/sources.toml", environ={})
    return [str(p) for p in info.value.problems]


def test_nothing_reaches_a_third_party_by_default() -> None:
    settings = parse_config("", path="/etc/monitor/sources.toml", environ={})
    assert settings.audit.timestamp_authorities == ()
    assert settings.audit.wayback is False
    assert settings.audit.wayback_endpoint == WAYBACK_ENDPOINT
    assert settings.monitor.data_dir is None and settings.monitor.ca_file is None


def test_files_named_in_the_config_are_relative_to_it() -> None:
    settings = parse_config(
        '[monitor]\ndata_dir = "state"\nca_file = "/pki/ca.pem"\n'
        '[audit]\nwayback = true\nwayback_per_minute = 2\nwayback_key = "${KEY}"\n'
        'timestamp_authorities = [{ url = "https://tsa.example/", certificates = "tsa.pem", '
        'name = "Example TSA" }]\n',
        path="/etc/monitor/sources.toml",
        environ={"KEY": "access:secret"},
    )
    assert settings.monitor.data_dir == "/etc/monitor/state"
    assert settings.monitor.ca_file == "/pki/ca.pem"
    (tsa,) = settings.audit.timestamp_authorities
    assert (tsa.url, tsa.certificates, tsa.label) == (
        "https://tsa.example/",
        "/etc/monitor/tsa.pem",
        "Example TSA",
    )
    assert settings.audit.wayback and settings.audit.wayback_per_minute == 2
    assert "access:secret" in settings.secrets()
    assert "access:secret" not in repr(settings)


def test_a_tsa_without_its_certificates_is_named_with_its_line() -> None:
    found = problems(
        '[audit]\ntimestamp_authorities = [\n  { url = "https://tsa.example/" },\n'
        '  { url = "ftp://x", certificates = "c.pem", colour = 1 },\n]\n'
    )
    assert any("audit.timestamp_authorities[1].certificates: is required" in p for p in found), (
        found
    )
    assert any("audit.timestamp_authorities[2].url" in p for p in found), found
    assert any("unknown key 'colour'" in p for p in found), found


def test_unknown_audit_keys_are_reported() -> None:
    (found,) = problems("[audit]\nwaybak = true\n")
    assert "unknown key 'waybak' in [audit]" in found and "wayback" in found
