# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A certificate's subject alternative names, as community.crypto's openssl_csr takes them.

- ``address | subject_alt_name``: ``IP:<address>`` for an IPv4 or IPv6 address, else
  ``DNS:<name>`` for a host name (letters, digits, hyphens and dots, as a DNS name is written).
  Anything else (an empty string, a URL, a name with a space) is an error: a certificate must
  not be made for a name a client will never match.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError

_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def subject_alt_name(address: Any) -> str:
    text = str(address if address is not None else "").strip()
    try:
        return f"IP:{ipaddress.ip_address(text)}"
    except ValueError:
        pass
    if not _HOST_NAME.match(text):
        raise AnsibleFilterError(
            f"subject_alt_name: {text!r} is neither an IP address nor a host name"
        )
    return f"DNS:{text.lower()}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"subject_alt_name": subject_alt_name}
