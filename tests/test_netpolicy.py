"""Which addresses a watched URL may reach."""

from __future__ import annotations

import pytest

from monitor.check.netpolicy import NetworkPolicy


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("93.184.216.34", False),
        ("10.0.0.5", True),
        ("172.16.3.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::ffff:10.0.0.1", True),
    ],
)
def test_default_policy(address: str, refused: bool) -> None:
    assert (NetworkPolicy().refusal(address) is not None) is refused


def test_deny_wins_over_loopback_default_and_allow_opens_private() -> None:
    policy = NetworkPolicy.from_strings(
        allow_private=False, allow=("10.1.0.0/16",), deny=("127.0.0.2/32",)
    )
    assert policy.refusal("127.0.0.1") is None
    assert "forbids" in (policy.refusal("127.0.0.2") or "")
    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("10.2.0.1") is not None
    assert NetworkPolicy(allow_private=True).refusal("192.168.0.1") is None
