"""Fixtures for hub tests."""

from __future__ import annotations

import pytest

from hub.model import CameraConfig, CameraKind


@pytest.fixture
def camera_config() -> CameraConfig:
    return CameraConfig(
        id="city-fixed-001",
        name="Grote Markt 1",
        site="city",
        kind=CameraKind.FIXED,
        onvif_url="http://127.0.0.1:9/onvif/device_service",
        username="admin",
        password="s3cret-pass",
    )
