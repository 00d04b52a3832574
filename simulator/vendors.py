"""Vendor identities of a realistic camera fleet (what GetDeviceInformation says)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from simulator.model import VendorIdentity


@dataclass(frozen=True)
class VendorProfile:
    """One vendor: its models, how it formats serial numbers and MAC addresses."""

    key: str
    models: tuple[VendorIdentity, ...]
    serial_style: str  # "hikvision" | "mac" | "alnum15" | "digits12" | "uniview"
    oui: str  # first three MAC octets, vendor-like
    weight: int  # relative share in a generated fleet (Hikvision/Dahua dominate real ones)


def _v(manufacturer: str, model: str, firmware: str, hardware_id: str) -> VendorIdentity:
    return VendorIdentity(manufacturer, model, firmware, hardware_id)


VENDOR_PROFILES: dict[str, VendorProfile] = {
    p.key: p
    for p in (
        VendorProfile(
            "hikvision",
            (
                _v("HIKVISION", "DS-2CD2143G2-I", "V5.7.3 build 220112", "88"),
                _v("HIKVISION", "DS-2CD2T47G2-L", "V5.7.11 build 221018", "88"),
                _v("HIKVISION", "DS-2CD2012-I", "V5.2.0 build 140721", "88"),
                _v("HIKVISION", "iDS-2CD7A46G0/P-IZHS", "V5.5.130 build 200805", "88"),
            ),
            "hikvision",
            "c0:56:e3",
            30,
        ),
        VendorProfile(
            "dahua",
            (
                _v("Dahua", "IPC-HFW5442E-ZE", "2.800.0000000.21.R, Build Date 2022-08-26", "1.00"),
                _v(
                    "Dahua", "IPC-HDBW3441R-ZS", "2.820.0000000.14.R, Build Date 2023-03-14", "1.00"
                ),
                _v(
                    "Dahua", "ITC237-PW6M-IRLZF", "2.622.0000000.6.R, Build Date 2021-11-02", "1.00"
                ),
            ),
            "alnum15",
            "3c:ef:8c",
            20,
        ),
        VendorProfile(
            "axis",
            (
                _v("AXIS", "AXIS P1455-LE", "10.12.182", "93D"),
                _v("AXIS", "AXIS Q1700-LE", "10.12.153", "9A4"),
                _v("AXIS", "AXIS Q6045-E", "5.55.1.2", "1C9.2"),
            ),
            "mac",
            "00:40:8c",
            15,
        ),
        VendorProfile(
            "hanwha",
            (
                _v("Hanwha Vision", "XNO-6080R", "2.21.02_20230524_R3", "N/A"),
                _v("Hanwha Techwin", "TNO-6320E1", "1.10.01_20220810", "N/A"),
            ),
            "alnum15",
            "00:09:18",
            10,
        ),
        VendorProfile(
            "bosch",
            (
                _v("Bosch", "DINION IP bullet 5000i IR", "7.80.0128", "F0004D5F"),
                _v("Bosch", "FLEXIDOME IP 3000i IR", "7.72.0100", "F000B8F0"),
            ),
            "digits12",
            "00:07:5f",
            8,
        ),
        VendorProfile(
            "uniview",
            (
                _v("Uniview", "IPC2124LB-SF28KM-G", "IPC_G6103-B0003P61D1908", "A"),
                _v("Uniview", "IPC3614SB-ADF28KM-I0", "IPC_Q1201-B5003P22D2011", "B"),
            ),
            "uniview",
            "6c:f1:7e",
            9,
        ),
        VendorProfile(
            "vivotek",
            (
                _v("VIVOTEK", "IB9387-EHT-A", "IB9387-VVTK-0121a", "0.1"),
                _v("VIVOTEK", "FD9389-EHTV-v2", "FD9389-VVTK-0202a", "0.2"),
            ),
            "mac",
            "00:02:d1",
            8,
        ),
    )
}

# Default identity per vendor key, for scenario files (`vendor = "axis"`).
VENDORS: dict[str, VendorIdentity] = {k: p.models[0] for k, p in VENDOR_PROFILES.items()}

_KEYS = tuple(VENDOR_PROFILES)
_WEIGHTS = tuple(VENDOR_PROFILES[k].weight for k in _KEYS)


def vendor_for(seed: int, index: int) -> VendorIdentity:
    """Deterministic vendor identity of camera `index` in a fleet generated from `seed`."""
    rng = random.Random(f"citywatch-vendor:{seed}:{index}")
    profile = VENDOR_PROFILES[rng.choices(_KEYS, weights=_WEIGHTS)[0]]
    return rng.choice(profile.models)


def profile_of(identity: VendorIdentity) -> VendorProfile | None:
    """The vendor profile an identity belongs to (by manufacturer name), if known."""
    name = identity.manufacturer.lower()
    for profile in VENDOR_PROFILES.values():
        if any(m.manufacturer.lower() == name for m in profile.models):
            return profile
    return None


def _digest(camera_id: str) -> bytes:
    return hashlib.sha256(camera_id.encode()).digest()


def mac_for(identity: VendorIdentity, camera_id: str) -> str:
    """A stable MAC address: vendor-like OUI plus three bytes derived from the camera id."""
    profile = profile_of(identity)
    oui = profile.oui if profile else "02:00:00"  # locally administered when unknown
    tail = _digest(camera_id)[:3]
    return oui + ":" + ":".join(f"{b:02x}" for b in tail)


def serial_for(identity: VendorIdentity, camera_id: str) -> str:
    """A stable serial number in the vendor's usual shape, derived from the camera id."""
    d = _digest(camera_id)
    n = int.from_bytes(d[:8], "big")
    profile = profile_of(identity)
    style = profile.serial_style if profile else "alnum15"
    if style == "hikvision":
        year, month, day = 2018 + d[8] % 6, 1 + d[9] % 12, 1 + d[10] % 28
        return f"{identity.model}{year}{month:02d}{day:02d}CCWR{n % 10**9:09d}"
    if style == "mac":
        return mac_for(identity, camera_id).replace(":", "").upper()
    if style == "digits12":
        return f"{n % 10**12:012d}"
    if style == "uniview":
        return f"210235C3EG3{d[8] % 10}{n % 10**8:08d}"
    alphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
    n = int.from_bytes(d, "big")
    chars = []
    for _ in range(15):
        n, r = divmod(n, len(alphabet))
        chars.append(alphabet[r])
    return "".join(chars)
