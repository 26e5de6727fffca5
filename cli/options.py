"""A command's options built from a frozen config dataclass, so each default is written once (on the field).

Every field made with :func:`domainemb.options.option` becomes a typer option: its name is the
field's (``--per-chunk``) unless the field names another flag, its help is the field's, and its
default is the field's default. A ``tuple[X, ...]`` field is a repeatable option; a fixed
``tuple[int, int]`` field is written ``A:B`` (the field's ``metavar`` says what A and B are).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Collection
from dataclasses import MISSING, dataclass
from typing import Annotated, Any, TypeVar

import typer

from domainemb.errors import DomainembError
from domainemb.options import option_of

Command = TypeVar("Command", bound=Callable[..., Any])


@dataclass(frozen=True)
class ConfigOption:
    """One config field as a command-line option.

    Args:
        name: The field's name (also the command function's parameter).
        flag: The option on the command line (``--kind``).
        parameter: The command's parameter: typer annotation and command-line default.
        default: The field's default; ``MISSING`` for a required field.
        shape: ``"value"``, ``"many"`` (``tuple[X, ...]``, repeatable) or ``"pair"`` (``tuple[X, Y]``, ``A:B``).
        item_types: The element types of a ``tuple`` field.
        metavar: How a ``"pair"`` value is written.
    """

    name: str
    flag: str
    parameter: inspect.Parameter
    default: Any
    shape: str
    item_types: tuple[type, ...] = ()
    metavar: str | None = None

    def from_cli(self, value: Any) -> Any:
        """The field value of what the command line gave (the field's default where the option is unset)."""
        if self.shape == "many":
            return self.default if value is None else tuple(value)
        if self.shape == "pair" and isinstance(value, str):
            parts = value.split(":")
            try:
                if len(parts) != len(self.item_types):
                    raise ValueError(value)
                return tuple(kind(part) for kind, part in zip(self.item_types, parts, strict=True))
            except ValueError:
                example = _pair_text(self.default)
                raise DomainembError(
                    f"{self.flag} must look like {self.metavar or example} (e.g. {example}), got {value!r}"
                ) from None
        return value


#: ``--backend`` of the commands that encode with sentence-transformers models (evaluate, compare, adapt).
#: A string, parsed by the library, so that a misspelt name is one ``error:`` line with the close name.
BACKEND_OPTION = typer.Option(
    "--backend",
    help="What runs the sentence-transformers models: torch, or their exported ONNX graph on onnx, onnx-int8 "
    "(int8 weights) or openvino; exported once per model into $DOMAINEMB_CACHE/onnx.",
    metavar="<torch|onnx|onnx-int8|openvino>",
)


def config_options(config: type, *, optional: Collection[str] = ()) -> Callable[[Command], Command]:
    """Give a typer command one option per field of ``config``; the command gets the field values.

    The command is called with every field as a keyword argument, already converted to the
    field's type (lists to tuples, ``A:B`` to a tuple); a malformed ``A:B`` is a
    :class:`DomainembError` raised inside the command, so ``user_errors`` reports it.

    Args:
        config: A frozen dataclass whose fields carry :class:`domainemb.options.Option`.
        optional: Required fields that the command may leave out: their option defaults to
            ``None`` and the command fills them in (e.g. an output path derived from another option).

    Example:
        >>> @app.command("synth")
        ... @user_errors
        ... @config_options(SynthConfig, optional=("out",))
        ... def synth(**settings):
        ...     synthesize(SynthConfig(**settings))
    """
    options = config_option_list(config, optional=optional)

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def from_cli(**given: Any) -> Any:
            return command(**{o.name: o.from_cli(given[o.name]) for o in options})

        signature = inspect.Signature([o.parameter for o in options], return_annotation=None)
        from_cli.__signature__ = signature  # type: ignore[attr-defined]  # typer reads the options from here
        from_cli.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
        return typing.cast(Command, from_cli)

    return decorate


def config_option_list(config: type, *, optional: Collection[str] = ()) -> list[ConfigOption]:
    """The options :func:`config_options` offers for ``config``, in field order."""
    hints = typing.get_type_hints(config)
    unknown = set(optional) - {f.name for f in dataclasses.fields(config)}
    if unknown:
        raise ValueError(f"{config.__name__} has no field {sorted(unknown)[0]!r}")
    return [
        _config_option(field, hints[field.name], field.name in optional)
        for field in dataclasses.fields(config)
        if option_of(field) is not None
    ]


def _config_option(field: dataclasses.Field, hint: Any, optional: bool) -> ConfigOption:
    info = option_of(field)
    assert info is not None
    flag = info.flag or "--" + field.name.replace("_", "-")
    default = field.default if field.default_factory is MISSING else field.default_factory()
    shape, item_types = "value", ()
    show_default: bool | str = True
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            shape, item_types = "many", (args[0],)
            kind: Any = list[args[0]] | None
            cli_default: Any = None
            show_default = ", ".join(str(v) for v in default) if default else False
        else:
            shape, item_types = "pair", args
            kind, cli_default = str, _pair_text(default) if default is not MISSING else MISSING
    else:
        kind, cli_default = hint, default
    if optional and cli_default is MISSING:
        kind, cli_default = _or_none(kind), None
    annotation = Annotated[kind, typer.Option(flag, help=info.help, show_default=show_default, metavar=info.metavar)]
    parameter = inspect.Parameter(
        field.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=inspect.Parameter.empty if cli_default is MISSING else cli_default,
        annotation=annotation,
    )
    return ConfigOption(field.name, flag, parameter, default, shape, tuple(item_types), info.metavar)


def _pair_text(value: Any) -> str:
    return ":".join(str(v) for v in value)


def _or_none(kind: Any) -> Any:
    if isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind):
        return kind
    return kind | None
