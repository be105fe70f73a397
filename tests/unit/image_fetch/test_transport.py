"""The pinned transport's set-up: the pool dials the vetted IP and names the host for TLS, and the
adapter sends nothing without a pin (no socket is opened)."""

from __future__ import annotations

import ipaddress

import pytest
import requests
from covers_core.adapters.image_fetch.transport import Pin, PinnedAdapter, Watchdog
from covers_core.adapters.image_fetch.urls import Target


def test_the_pinned_pool_dials_the_ip_and_names_the_host_for_tls() -> None:
    pin = Pin(
        Target("https", "cdn.example", 443, "/a.png"), ipaddress.ip_address("93.184.216.34"), Watchdog(1)
    )
    pool = pin.new_pool()
    assert pin.url == "https://93.184.216.34:443/a.png"
    assert pool.host == "93.184.216.34"
    assert pool.conn_kw["server_hostname"] == "cdn.example"
    pin.close()


def test_the_adapter_refuses_a_request_without_a_pin() -> None:
    request = requests.Request("GET", "https://cdn.example/a.png").prepare()
    with pytest.raises(requests.exceptions.InvalidURL, match="vetted"):
        PinnedAdapter().send(request)
