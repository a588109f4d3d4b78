"""Reading ``template.yaml``, the single source of truth for what the local stack creates."""

from pathlib import Path
from typing import Any

import yaml

# CloudFormation's short forms, as the long forms the JSON template would use.
_TAGS = {
    "!Ref": "Ref",
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!GetAZs": "Fn::GetAZs",
    "!Base64": "Fn::Base64",
    "!ImportValue": "Fn::ImportValue",
    "!FindInMap": "Fn::FindInMap",
    "!Condition": "Condition",
}


class _TemplateLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _TAGS["!" + tag_suffix]
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data, short forms expanded (``!Ref X`` → ``{"Ref": "X"}``)."""
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path} is not a CloudFormation/SAM template")
    return document
