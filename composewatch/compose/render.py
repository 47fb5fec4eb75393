"""`render_config`: the loaded project printed byte for byte as `docker compose config` prints it.

The tree comes from `layout.shape_document` (compose-go's field order and `omitempty` rules);
this module encodes it as Go does: JSON like `json.MarshalIndent(v, "", "  ")` (HTML
characters escaped, no trailing newline), YAML like go-yaml v3 with an indent of 2 (scalar
quoting by v3's resolver, sequences indented under their key, no line folding), then every
`$` doubled, as compose does on the whole text.
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal
from typing import Any, Literal

import yaml

from composewatch.compose.layout import GoFloat, shape_document, shape_struct
from composewatch.compose.model import LoadedProject
from composewatch.compose.scalars import BASE60, OLD_BOOLS, STR, GoTime, yaml_plain_tag
from composewatch.errors import ComposeFileError

__all__ = [
    "dependency_order",
    "encode_json",
    "encode_yaml",
    "go_format_float",
    "marshal_service",
    "marshal_struct",
    "render_config",
]


# --- numbers -------------------------------------------------------------------------------


def _shortest_digits(value: float, bits: int) -> tuple[str, int]:
    """The shortest decimal digits that read back as `value` at `bits` width, and the
    decimal exponent of the first digit (`1.5` -> ("15", 0))."""
    if bits == 32:
        target = struct.unpack("f", struct.pack("f", value))[0]
        for precision in range(1, 18):  # significant digits
            text = f"{target:.{precision - 1}e}"
            if struct.unpack("f", struct.pack("f", float(text)))[0] == target:
                break
    else:
        text = repr(value)
    _, digits, exponent = Decimal(text).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)).rstrip("0") or "0"
    return text, len(digits) + exponent - 1


def go_format_float(value: float, bits: Literal[32, 64], fmt: Literal["json", "g"]) -> str:
    """`strconv.FormatFloat` with precision -1 as encoding/json (`json`) or go-yaml (`g`) use it."""
    if math.isinf(value) or math.isnan(value):
        text = "+Inf" if value > 0 else "-Inf" if value < 0 else "NaN"
        return {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}[text]
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits, exponent = _shortest_digits(abs(value), bits)
    if fmt == "json":
        scientific = abs(value) < 1e-6 or abs(value) >= 1e21
    else:
        scientific = exponent < -4 or exponent >= 6
    if scientific:
        mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
        text = f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
        if fmt == "json" and -10 < exponent < 0:
            text = text[:-2] + text[-1]  # encoding/json writes e-7, not e-07
        return text
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, fraction = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
    return f"{sign}{whole}" + (f".{fraction}" if fraction else "")


# --- JSON ----------------------------------------------------------------------------------

_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_SPECIAL = re.compile('["\\\\<>&\u2028\u2029\x00-\x1f\ud800-\udfff]')


def _json_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _JSON_ESCAPES:
        return _JSON_ESCAPES[char]
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"  # not valid UTF-8: Go writes the replacement character
    return f"\\u{ord(char):04x}"


def _json_string(text: str) -> str:
    return '"' + _JSON_SPECIAL.sub(_json_char, text) + '"'


def _finite(value: float) -> float:
    """JSON has no infinities or NaN: compose fails as Go's json.Marshal does."""
    if math.isfinite(value):
        return value
    text = "NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"
    raise ComposeFileError(f"json: unsupported value: {text}")


def _json(value: Any, indent: str, out: list[str]) -> None:
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "  "
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(("," if i else "") + "\n" + inner + _json_string(str(key)) + ": ")
            _json(item, inner, out)
        out.append("\n" + indent + "}")
    elif isinstance(value, list):
        if not value:
            out.append("[]")
            return
        inner = indent + "  "
        out.append("[")
        for i, item in enumerate(value):
            out.append(("," if i else "") + "\n" + inner)
            _json(item, inner, out)
        out.append("\n" + indent + "]")
    elif value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, GoFloat):
        out.append(go_format_float(_finite(value.value), value.bits, "json"))
    elif isinstance(value, float):
        out.append(go_format_float(_finite(value), 64, "json"))
    elif isinstance(value, int):
        out.append(str(value))
    else:
        out.append(_json_string(str(value)))


def _compact_json(value: Any) -> str:
    if isinstance(value, dict):
        items = (f"{_json_string(str(k))}:{_compact_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(v) for v in value) + "]"
    out: list[str] = []
    _json(value, "", out)
    return "".join(out)


def marshal_service(service: dict[str, Any]) -> str:
    """Go's `json.Marshal` of a compose-go `ServiceConfig` given as the loader's dict
    (what compose hashes for `com.docker.compose.config-hash`)."""
    return _compact_json(shape_struct(service, "ServiceConfig", "json"))


def marshal_struct(value: dict[str, Any], struct: str) -> str:
    """Go's `json.Marshal` of another compose-go struct (`NetworkConfig`, `VolumeConfig`)."""
    return _compact_json(shape_struct(value, struct, "json"))


def encode_json(value: Any) -> str:
    """`json.MarshalIndent(value, "", "  ")`: no trailing newline."""
    out: list[str] = []
    _json(value, "", out)
    return "".join(out)


# --- YAML ----------------------------------------------------------------------------------


def _yaml_string_style(text: str) -> str | None:
    """go-yaml v3's choice: literal for multi-line text, double quotes for text that would
    read back as another type, else plain (the emitter falls back to single quotes)."""
    if "\n" in text:
        return "|"
    if yaml_plain_tag(text) != STR or BASE60.fullmatch(text) or text in OLD_BOOLS:
        return '"'
    return None


class _GoDumper(yaml.SafeDumper):
    """PyYAML's emitter (a port of libyaml, as go-yaml's is) set up as go-yaml v3 encodes."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # sequences indented under their key

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return yaml_plain_tag(value)
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _represent_str(dumper: _GoDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar(STR, data, style=_yaml_string_style(data))


def _plain_number(text: str) -> yaml.Node:
    # go-yaml writes a float plain even when its text reads back as an int (`50`)
    return yaml.ScalarNode(yaml_plain_tag(text), text)


def _represent_float(dumper: _GoDumper, data: GoFloat) -> yaml.Node:
    return _plain_number(go_format_float(data.value, data.bits, "g"))


def _represent_pyfloat(dumper: _GoDumper, data: float) -> yaml.Node:
    return _plain_number(go_format_float(data, 64, "g"))


def _represent_time(dumper: _GoDumper, data: GoTime) -> yaml.Node:
    return yaml.ScalarNode(yaml_plain_tag(data), str(data))  # plain, as go-yaml writes a time


def _represent_dict(dumper: _GoDumper, data: dict[Any, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items())


_GoDumper.add_representer(str, _represent_str)
_GoDumper.add_representer(GoFloat, _represent_float)
_GoDumper.add_representer(float, _represent_pyfloat)
_GoDumper.add_representer(dict, _represent_dict)
_GoDumper.add_representer(GoTime, _represent_time)
_GoDumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]


def encode_yaml(value: Any) -> str:
    """go-yaml v3's `Encoder` with `SetIndent(2)`."""
    text: str = yaml.dump(
        value,
        Dumper=_GoDumper,
        indent=2,
        width=2**31 - 1,
        allow_unicode=True,
        default_flow_style=False,
        sort_keys=False,
    )
    return text


# --- config --------------------------------------------------------------------------------


def dependency_order(services: dict[str, Any]) -> list[str]:
    """The service names as `config --services` prints them: each after the services it
    depends on. Compose walks a Go map (its order changes from run to run); this is the walk
    in name order, one of the orders compose prints."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        # iterative depth-first walk: a chain of thousands of services is fine
        stack: list[tuple[str, list[str]]] = []
        seen.add(name)
        stack.append((name, sorted(services[name].get("depends_on") or {}, reverse=True)))
        while stack:
            current, pending = stack[-1]
            while pending and (pending[-1] in seen or pending[-1] not in services):
                pending.pop()
            if pending:
                child = pending.pop()
                seen.add(child)
                stack.append((child, sorted(services[child].get("depends_on") or {}, reverse=True)))
                continue
            stack.pop()
            order.append(current)

    for name in sorted(services):
        if name not in seen:
            visit(name)
    return order


def render_config(
    loaded: LoadedProject, fmt: Literal["json", "yaml"] = "yaml", services_only: bool = False
) -> str:
    """What `docker compose config [--format fmt] [--services]` prints for the project."""
    project = loaded.project.model_dump(mode="python", by_alias=True, exclude_unset=True)
    if services_only:
        return "".join(f"{name}\n" for name in dependency_order(project.get("services", {})))
    document = shape_document(project, loaded.extensions, fmt)
    try:
        text = encode_json(document) if fmt == "json" else encode_yaml(document)
    except ComposeFileError as exc:  # a value JSON cannot hold (`.inf`)
        file = loaded.config_files[0] if loaded.config_files else None
        raise ComposeFileError(exc.reason, file=file) from None
    return text.replace("$", "$$")
