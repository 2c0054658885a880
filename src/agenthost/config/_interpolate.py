"""`${VAR}` and `${VAR:-default}` in string values of the config (keys are left alone).

`${VAR}` needs VAR to be set; `${VAR:-default}` uses the default when VAR is unset or empty;
`$${...}` stands for a literal `${...}`. A value that is only a reference (`"${ROUNDS:-5}"`)
still gives a string; numbers and booleans are converted when the schema is applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agenthost.config._types import FieldPath as Path
from agenthost.config._types import Problem

_REF = re.compile(r"\$(\$)?\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(value: Any, env: Mapping[str, str], path: Path, problems: list[Problem]) -> Any:
    """A copy of `value` with references replaced; unset variables become problems."""
    if isinstance(value, str):
        return _string(value, env, path, problems) if "${" in value else value
    if isinstance(value, dict):
        return {k: interpolate(v, env, (*path, str(k)), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, (*path, i), problems) for i, v in enumerate(value)]
    return value


def _string(text: str, env: Mapping[str, str], path: Path, problems: list[Problem]) -> str:
    def replace(match: re.Match[str]) -> str:
        escaped, body = match.group(1), match.group(2)
        if escaped:
            return "${" + body + "}"
        name, has_default, default = body.partition(":-")
        if not _NAME.fullmatch(name):
            problems.append(
                (path, f"bad reference ${{{body}}}; write ${{NAME}} or ${{NAME:-default}}")
            )
            return match.group(0)
        found = env.get(name)
        if has_default:
            return found or default
        if found is None:
            problems.append(
                (
                    path,
                    f"environment variable {name} is not set (used as ${{{name}}}); "
                    f"export it or write ${{{name}:-default}}",
                )
            )
            return match.group(0)
        return found

    return _REF.sub(replace, text)
