"""IP and CIDR checks: one normal form for allow-lists, one membership test."""

import pytest

from core.net import cidrs_normalize, ip_in_cidrs, ip_parse


def test_cidrs_are_canonical_sorted_and_deduplicated():
    values = ["2001:0db8:0::/32", "10.1.2.3/16", " 10.0.0.7 ", "10.0.0.7/32"]

    assert cidrs_normalize(values) == ["10.0.0.7/32", "10.1.0.0/16", "2001:db8::/32"]


def test_every_bad_cidr_is_named():
    with pytest.raises(ValueError, match="10.0.0.0/33, office"):
        cidrs_normalize(["10.0.0.0/8", "10.0.0.0/33", "office"])


@pytest.mark.parametrize(
    ("ip", "inside"),
    [("10.2.3.4", True), ("2001:db8::1", True), ("192.168.0.1", False), ("not-an-ip", False), (None, False), ("", False)],
)
def test_ip_in_cidrs(ip, inside):
    # A malformed stored range is skipped, not an error.
    assert ip_in_cidrs(ip, ["garbage", "10.0.0.0/8", "2001:db8::/32"]) is inside


def test_ip_parse():
    assert str(ip_parse("2001:0db8::0001")) == "2001:db8::1"
    assert ip_parse("10.0.0.300") is None
    assert ip_parse(None) is None
