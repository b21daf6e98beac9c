"""`[firefox] automation` (test images) is said at build time; a customer's image is not."""

from __future__ import annotations

import pytest

from esecure.bundle.build import AUTOMATION_WARNING

pytestmark = pytest.mark.slow


def test_a_customer_image_builds_without_the_automation_warning(demo_image):
    assert "automation" not in demo_image.stderr
    assert AUTOMATION_WARNING.startswith("[firefox] automation = true")
