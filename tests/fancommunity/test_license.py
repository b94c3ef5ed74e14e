"""Open source for real (issue 15): the AGPL-3.0 text ships verbatim, and the README names it."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# sha256 of licenseText in npm spdx-license-list 6.12.0, licenses/AGPL-3.0-only.json (plus a final
# newline): the LICENSE file was copied from there, never typed.
AGPL_3_SHA256 = "d8a6cc31abc16b6748c7a21f21611f5a1ec33f67d22ca23d7da1c19b95496bee"


def test_license_is_the_agpl_3_text():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007\n")
    assert "13. Remote Network Interaction; Use with the GNU General Public License." in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert hashlib.sha256(text.encode()).hexdigest() == AGPL_3_SHA256


def test_readme_names_the_license_and_contributing_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "GNU Affero General Public License, version 3" in readme and "[LICENSE](LICENSE)" in readme
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for part in ("## Run it", "## Test it", "## Where things live"):
        assert part in contributing
