# Copyright: ecs-deep-learning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH command lines, as the outputs print them for a user to paste into a shell.

- ``destination | ssh_command(identity, port, options={}, args='')``:
  ``ssh -i <identity> -p <port> [-o <name>=<value> ...] [<args>] <destination>``.

``options`` is a mapping of ssh_config options, given in its order (a boolean as yes/no);
``args`` is a string of arguments already in shell words (an inventory's
``ansible_ssh_common_args``), put in as it is; an empty one adds nothing. The identity, the
option values and the destination are quoted for a POSIX shell when they need it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def ssh_command(
    destination: Any, identity: Any, port: Any, options: Any = None, args: Any = ""
) -> str:
    for name, value in (("destination", destination), ("identity", identity), ("port", port)):
        if value is None or str(value) == "":
            raise AnsibleFilterError(f"ssh_command: no {name}")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise AnsibleFilterError(f"ssh_command: options is not a mapping: {options!r}")
    if not isinstance(args, str):
        raise AnsibleFilterError(f"ssh_command: args is not a string: {args!r}")
    words = ["ssh", "-i", shlex.quote(str(identity)), "-p", shlex.quote(str(port))]
    for name, value in options.items():
        words += ["-o", shlex.quote(f"{name}={_value(value)}")]
    if args.strip():
        words.append(args.strip())
    words.append(shlex.quote(str(destination)))
    return " ".join(words)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ssh_command": ssh_command}
