"""Fixtures for hub tests."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Encoded-video cache shared by every test of the session (the same directory the
    simulator's tests use): the first encode of a stream kind takes seconds."""
    path = tmp_path_factory.getbasetemp() / "citywatch-video"
    path.mkdir(exist_ok=True)
    return path
