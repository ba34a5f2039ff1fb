"""Which variables a command's (or a prompt's) templates use that do not exist (they would
render empty).

Checked against `proto.commands.TEMPLATE_VARIABLES`, the one list the editor also shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.compiler import CodeGenerator

from command_service.execution.templates import BoundedEnvironment
from proto.commands import (
    TEMPLATE_VARIABLES,
    AiResponse,
    CommandIn,
    HttpResponse,
    PromptIn,
    TemplateResponse,
)

# Names a template may use that are not variables: the renderer's globals.
_GLOBALS = frozenset({"range", "dict", "loop", "true", "false", "none", "True", "False", "None"})
# Variables whose attributes are open (an API's JSON answer).
_OPEN = frozenset({"data"})

# Only parses: nothing is rendered with it. It is the renderer's own environment all the
# same: compiling evaluates constant parts (an output's constant expressions, `{% autoescape
# expr %}`), and there its operators and filters meet the same size guard as a render.
_parser = BoundedEnvironment()


class _FreeNames(meta.TrackingCodeGenerator):
    """jinja2's own "undeclared variables" walk, without its optimizer: the optimizer folds
    constant expressions at compile time (`'a' * 10**9`, `'a'|center(10**8)`), which would run
    a user's template code outside the renderer's size guard."""

    def __init__(self) -> None:
        CodeGenerator.__init__(self, _parser, "<introspection>", "<introspection>", optimized=False)
        self.undeclared_identifiers: set[str] = set()


def _free_names(ast: nodes.Template) -> set[str]:
    walk = _FreeNames()
    walk.visit(ast)
    return walk.undeclared_identifiers


def known_variables(cmd: CommandIn) -> dict[str, set[str] | None]:
    """Root name -> its attributes (None: a plain value or an open object)."""
    kinds: set[str] = {cmd.kind, cmd.response.type}
    if cmd.kind == "user":
        kinds.add("user")
    return _known(kinds, {o.name for o in cmd.options}, None)


def _known(
    kinds: set[str], options: set[str] | None, prompt_vars: set[str] | None
) -> dict[str, set[str] | None]:
    """The variables a template sees given the command kinds it may run for; `options`
    None: any option (open); `prompt_vars` None: not a prompt template (no `vars`)."""
    out: dict[str, set[str] | None] = {}
    for var in TEMPLATE_VARIABLES:
        if var.only and not kinds & set(var.only):
            continue
        root, _, attr = var.path.partition(".")
        if root == "options":
            out["options"] = options
            continue
        if root == "vars":
            if prompt_vars is not None:
                out["vars"] = prompt_vars
            continue
        if root in _OPEN or not attr:
            out.setdefault(root, None)
            continue
        attrs = out.setdefault(root, set())
        assert attrs is not None
        attrs.add(attr)
    return out


# The command kinds a prompt may serve: any, through an AI response.
_PROMPT_KINDS = frozenset({"slash", "prefix", "user", "message", "ai"})


def prompt_warnings(prompt: PromptIn, cmd: CommandIn | None = None) -> list[str]:
    """One plain-words warning per undefined variable a prompt's system and user templates
    use. Alone (at save), a prompt may serve any command: only what no command can give is
    flagged, and `vars.NAME` must be one of its variables. With the command that uses it
    (preview, the command's save), that command's variables and options count, and `vars`
    are the prompt's plus those the command sets."""
    if cmd is None:
        known = _known(set(_PROMPT_KINDS), None, set(prompt.variables))
        hints = {"vars.": " (add it to the prompt's variables)"}
    else:
        known = known_variables(cmd)
        given = cmd.response.variables if isinstance(cmd.response, AiResponse) else {}
        known["vars"] = set(prompt.variables) | set(given)
        hints = {
            "vars.": " (neither the prompt nor the command sets it)",
            "options.": " (the command has no such option)",
        }
    whose = "the prompt's" if cmd is None else f"the prompt {prompt.name}'s"
    sources = [(f"{whose} system message", prompt.system), (f"{whose} user message", prompt.user)]
    return _warnings(((w, src) for w, src in sources if src), known, hints)


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
    free = _free_names(ast)
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
    hints = {"options.": " (the command has no such option)"}
    return _warnings(_sources(cmd), known_variables(cmd), hints)


def _warnings(
    sources: Iterable[tuple[str, str]], known: dict[str, set[str] | None], hints: dict[str, str]
) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for where, source in sources:
        for path in undefined_in(source, known):
            if path in seen:
                continue
            seen.add(path)
            hint = next((h for start, h in hints.items() if path.startswith(start)), "")
            out.append(
                f"{where} uses {{{{ {path} }}}}, which is not a variable: it renders empty{hint}"
            )
    return out
