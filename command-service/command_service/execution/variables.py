"""Which variables a command's templates use that do not exist (they would render empty).

Checked against `proto.commands.TEMPLATE_VARIABLES`, the one list the editor also shows.
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import Environment, TemplateSyntaxError, meta, nodes

from proto.commands import (
    TEMPLATE_VARIABLES,
    AiResponse,
    CommandIn,
    HttpResponse,
    TemplateResponse,
)

# Names a template may use that are not variables: the renderer's globals.
_GLOBALS = frozenset({"range", "dict", "loop", "true", "false", "none", "True", "False", "None"})
# Variables whose attributes are open (an API's JSON answer).
_OPEN = frozenset({"data"})

_parser = Environment(autoescape=True)  # only parses: nothing is rendered with it


def known_variables(cmd: CommandIn) -> dict[str, set[str] | None]:
    """Root name -> its attributes (None: a plain value or an open object)."""
    response = cmd.response.type
    kinds = {cmd.kind, response}
    if cmd.kind == "user":
        kinds.add("user")
    out: dict[str, set[str] | None] = {}
    for var in TEMPLATE_VARIABLES:
        if var.only and not kinds & set(var.only):
            continue
        root, _, attr = var.path.partition(".")
        if root == "options":
            out["options"] = {o.name for o in cmd.options}
            continue
        if root == "vars":
            continue  # prompt templates only
        if root in _OPEN or not attr:
            out.setdefault(root, None)
            continue
        attrs = out.setdefault(root, set())
        assert attrs is not None
        attrs.add(attr)
    return out


def _sources(cmd: CommandIn) -> Iterator[tuple[str, str]]:
    """(where, template source) of every template of the command."""
    r = cmd.response
    if isinstance(r, TemplateResponse | HttpResponse):
        if r.content:
            yield "the reply template", r.content
        for i, e in enumerate(r.embeds, 1):
            for label, text in (
                ("title", e.title),
                ("description", e.description),
                ("URL", e.url),
                ("footer", e.footer),
            ):
                if text:
                    yield f"embed {i}'s {label}", text
            for f in e.fields:
                yield f"embed {i}'s fields", f.name
                yield f"embed {i}'s fields", f.value
    if isinstance(r, HttpResponse):
        if r.path:
            yield "the request path", r.path
        for k, v in r.query.items():
            yield f"the query parameter {k}", v
        for k, v in r.headers.items():
            yield f"the header {k}", v
        if r.body:
            yield "the request body", r.body
    if isinstance(r, AiResponse):
        for k, v in r.variables.items():
            yield f"the prompt variable {k}", v


def undefined_in(source: str, known: dict[str, set[str] | None]) -> list[str]:
    """The undefined variables `source` uses (`name` or `name.attr`), in order of use."""
    if "{" not in source:
        return []
    try:
        ast = _parser.parse(source)
    except TemplateSyntaxError:
        return []  # the syntax error is reported by the validation itself
    found: list[str] = []
    free = meta.find_undeclared_variables(ast)
    for name in ast.find_all(nodes.Name):
        n = name.name
        if name.ctx == "load" and n in free and n not in (_GLOBALS | known.keys() | set(found)):
            found.append(n)
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        base = node.node
        if not (isinstance(base, nodes.Name) and base.name in free and base.name in known):
            continue
        attrs = known[base.name]
        if attrs is None:
            continue
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            attr = node.arg.value
        else:
            continue
        path = f"{base.name}.{attr}"
        if attr not in attrs and path not in found:
            found.append(path)
    return found


def warnings_of(cmd: CommandIn) -> list[str]:
    """One plain-words warning per undefined variable a command's templates use."""
    known = known_variables(cmd)
    out: list[str] = []
    seen: set[str] = set()
    for where, source in _sources(cmd):
        for path in undefined_in(source, known):
            if path in seen:
                continue
            seen.add(path)
            hint = ""
            if path.startswith("options."):
                hint = " (the command has no such option)"
            out.append(
                f"{where} uses {{{{ {path} }}}}, which is not a variable: it renders empty{hint}"
            )
    return out
