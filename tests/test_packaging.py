"""What Home Assistant's hassfest and HACS check before they accept the integration.

Their rules, written down here from their documentation: the manifest's keys in order
(domain, name, then alphabetical), a LICENSE, brand images in the integration's `brand/`
folder at the sizes Home Assistant's brands rules give (icon 256x256, icon@2x 512x512).
"""

import json
from pathlib import Path

from homeassistant.const import __version__ as HA_VERSION
from packaging.version import Version
from PIL import Image

REPO = Path(__file__).parent.parent
INTEGRATION = REPO / "custom_components/ev_charging"


def test_manifest_keys_in_hassfest_order() -> None:
    """domain, name, then the other keys alphabetically."""
    keys = list(json.loads((INTEGRATION / "manifest.json").read_text()))
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_brand_images_at_their_sizes() -> None:
    """Square PNGs with transparency, at the sizes the brands rules ask for."""
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        with Image.open(INTEGRATION / "brand" / name) as image:
            assert image.format == "PNG", name
            assert image.size == (size, size), name
            assert image.mode == "RGBA", name


def test_license_matches_pyproject() -> None:
    """HACS wants a LICENSE; pyproject says which one."""
    assert "Apache License" in (REPO / "LICENSE").read_text()
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text()


def test_hacs_manifest() -> None:
    """hacs.json names the integration and the lowest Home Assistant it supports."""
    hacs = json.loads((REPO / "hacs.json").read_text())
    assert hacs["name"] == json.loads((INTEGRATION / "manifest.json").read_text())["name"]
    assert Version(hacs["homeassistant"]) <= Version(HA_VERSION)
