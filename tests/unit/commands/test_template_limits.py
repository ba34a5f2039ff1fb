"""The template size guard: legitimate templates render exactly as plain sandboxed Jinja
renders them (every filter with its normal arguments, the ones taking the environment or
eval context included), every builtin filter has a size rule, and the size bounds are
upper bounds of what Python then builds."""

from __future__ import annotations

import gc
import random
import tracemalloc
from typing import Any

import pytest
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

from command_service.execution import templates
from command_service.execution.template_limits import (
    FILTER_RULES,
    format_field_bound,
    printf_bound,
    text_bound,
)
from command_service.execution.templates import Renderer

VARIABLES: dict[str, Any] = {
    "user": {"id": "42", "name": "ada", "roles": ["1", "2"]},
    "options": {"who": "Bob <b>", "n": 3, "city": "Lyon"},
    "args": ["a", "b c"],
    "data": {
        "items": [
            {"name": "pear", "price": 3, "tags": ["x"]},
            {"name": "apple", "price": 1, "tags": []},
            {"name": "fig", "price": 2, "tags": ["y", "z"]},
        ],
        "text": "Hello world, this is a longer sentence to wrap and truncate.",
        "html": "<p>Hi &amp; bye</p>",
        "url": "see https://example.com/x?a=1 now",
    },
}

LEGIT = [
    "Hi {{ options.who }}, from {{ user.name }}",
    "{{ data.text|wordwrap(20) }}",
    "{{ data.text|wordwrap(10, true, '|') }}",
    "{{ data.text|truncate(20) }}|{{ data.text|truncate(25, true, '~', 0) }}",
    "{{ 'abc'|wordwrap(5) }}|{{ 'abc'|truncate(5) }}",
    "{{ data['items']|map(attribute='name')|join(', ') }}",
    "{{ data['items']|join(', ', attribute='price') }}",
    "{{ data['items']|sort(attribute='price')|map(attribute='name')|list }}",
    "{{ data['items']|selectattr('price', 'gt', 1)|map(attribute='name')|list }}",
    "{{ data['items']|rejectattr('tags')|list|length }}",
    "{{ data['items']|sum(attribute='price') }}|{{ [[1], [2, 3]]|sum(start=[]) }}",
    "{{ data['items']|groupby('price')|list|length }}",
    "{{ data['items']|min(attribute='price') }}|{{ data['items']|max(attribute='price') }}",
    "{{ [3, 1, 2, 3]|unique|list }}|{{ [3, 1, 2]|sort(reverse=true) }}",
    "{{ range(10)|batch(3, 0)|list }}|{{ range(10)|slice(3)|list }}",
    "{{ range(10)|select('odd')|list }}|{{ range(10)|reject('divisibleby', 3)|list }}",
    "{{ [1, 2, 3]|first }}{{ [1, 2, 3]|last }}{{ [7]|random }}{{ 'abc'|reverse }}",
    "{{ options|dictsort }}|{{ options|items|list|length }}|{{ options|length }}",
    "{{ data.text|center(70) }}|{{ 'x'|center(5) }}",
    "{{ 'a\nb'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent('> ', blank=true) }}",
    "{{ '%s has %d items'|format(user.name, 3) }}|{{ '%(a)s'|format(a='k') }}",
    "{{ data.text|replace('a', 'A') }}|{{ data.text|replace('o', '0', 2) }}",
    "{{ 3.14159|round(2) }}|{{ 2.5|round(0, 'floor') }}|{{ 1234|round(-2) }}",
    "{{ '42'|int + 1 }}|{{ 'ff'|int(base=16) }}|{{ '1.5'|float }}|{{ -3|abs }}",
    "{{ missing|default('none') }}|{{ ''|d('empty', true) }}",
    "{{ 123456789|filesizeformat }}|{{ 2048|filesizeformat(true) }}",
    "{{ data.html|e }}|{{ data.html|striptags }}|{{ data.html|forceescape }}|{{ 'x'|safe }}",
    "{{ data.text|title }}|{{ 'hello'|capitalize }}|{{ 'Hi'|upper }}{{ 'Hi'|lower }}",
    "{{ '  pad  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ data.text|wordcount }}",
    "{{ options|urlencode }}|{{ 'a b&c'|urlencode }}|{{ data.url|urlize }}",
    "{{ {'class': 'x', 'id': 1}|xmlattr }}|{{ data|tojson }}|{{ [1, 'a']|tojson(2) }}",
    "{{ data['items'][0]|pprint }}|{{ 3|string ~ 'x' }}|{{ data['items']|count }}",
    "{{ data['items'][0]|attr('name') }}|{{ user.roles|join }}",
    "{{ 'a'.ljust(3, '.') }}{{ 'b'.rjust(3) }}{{ 'c'.center(5, '*') }}{{ '7'.zfill(3) }}",
    "{{ 'a\tb'.expandtabs(4) }}|{{ 'aXbX'.replace('X', '--') }}|{{ '-'.join(args) }}",
    "{{ 'Straße'.upper() }}|{{ 'ab'.translate({97: 'zz'}) }}|{{ 'é'.encode()|length }}",
    "{{ 'a,b,,c'.split(',') }}|{{ ' x '.strip() }}|{{ 'abc'.startswith('a') }}",
    "{{ '{} and {}'.format(1, 'two') }}|{{ '{:>6.2f}|{:,}'.format(3.14159, 1234567) }}",
    "{{ '{name}!'.format_map(user) }}|{{ '{0[name]}'.format(user) }}|{{ '{!r}'.format('q') }}",
    "{{ '%s=%r' % ('k', 'v') }}|{{ '%5.1f%%' % 12.345 }}|{{ '%(name)s' % user }}",
    "{{ 2 ** 10 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }} {{ 3 - 5 }} {{ 2 * 3 }} {{ 1 + 1 }}",
    "{{ 'ab' * 3 }}|{{ [1] * 3 }}|{{ [1, 2] + [3] }}|{{ (1,) + (2,) }}|{{ 'a' + 'b' }}",
    "{{ 'a' ~ 1 ~ [2] ~ none }}|{{ data.text[:5] }}|{{ args[::-1] }}|{{ range(10)[2:5]|list }}",
    "{% for r in user.roles %}{{ loop.index }}:{{ r }}{{ loop.cycle(',', ';') }}{% endfor %}",
    "{% for k, v in options|dictsort %}{{ k }}={{ v }}{% if not loop.last %}&{% endif %}"
    "{% endfor %}",
    "{% macro tag(name, v='') %}<{{ name }}>{{ v }}{{ caller() if caller }}</{{ name }}>"
    "{% endmacro %}{{ tag('b', 'x') }}{% call tag('i') %}in{% endcall %}",
    "{% set greeting %}Hi {{ user.name }}!{% endset %}{{ greeting|upper }}",
    "{% filter upper %}shout {{ options.city }}{% endfilter %}",
    "{% autoescape true %}{{ options.who }}{{ options.who ~ '&' }}{% endautoescape %}",
    "{% set d = dict(a=1, b=2) %}{{ d|dictsort }}|{{ dict([('k', 1)]) }}|{{ {}.fromkeys('ab') }}",
    "{% for x in data['items'] recursive %}{{ x.name }}{% endfor %}",
    "{{ (2).to_bytes(2, 'big')|list }}|{{ 'ab'.encode('utf-16')|length }}",
    "{{ user.name is string }}{{ 4 is divisibleby 2 }}{{ 'a' in args }}{{ none is none }}",
    "{{ range(5)|list }}|{{ range(2, 10, 3)|list }}|{{ user }}|{{ data['items'][1] }}",
]


def _plain(source: str) -> str:
    env = ImmutableSandboxedEnvironment(autoescape=False)
    return env.from_string(source).render(VARIABLES)


@pytest.mark.parametrize("source", LEGIT)
def test_a_legitimate_template_renders_as_plain_jinja_does(source: str) -> None:
    renderer = Renderer(workers=1)
    try:
        assert renderer.render_sync(source, VARIABLES) == _plain(source)
    finally:
        renderer.close()


def test_every_builtin_filter_has_a_size_rule() -> None:
    # A filter a Jinja upgrade adds gets a strict generic check until it is classified here.
    assert set(FILTERS) <= set(FILTER_RULES)


def _samples() -> list[Any]:
    rng = random.Random(23)
    texts = ["", "a", "ab'c", "q\"'", "\\x", "é", "😀", "\x00\x01", "<&>", "a\tb\nc"]
    values: list[Any] = [*texts, 0, -1, 7, 2**64, -(2**200), 0.5, -1e308, 1e-300, True, None]
    values += [[], [1, "a"], ("x", None), {"k": "v", 1: [2]}, {1, 2}, b"ab\xff", range(3)]
    values += [rng.choice(texts) * rng.randint(0, 40) for _ in range(20)]
    values.append([values[:10], {"n": values[10:20]}])
    return values


def test_text_bound_is_an_upper_bound_of_str() -> None:
    for value in _samples():
        assert text_bound(value) >= len(str(value)), value


SPECS = ["", "10", "<8", "*^12", ">20.3", "+08.2f", ",", "_x", ".5", "#b", "e", ".40g", "%", "c"]


def test_format_field_bound_is_an_upper_bound_of_format() -> None:
    for value in _samples():
        for spec in SPECS:
            try:
                built = format(value, spec)
            except (TypeError, ValueError, OverflowError):
                continue
            assert format_field_bound(value, spec) >= len(built), (value, spec)


PRINTF = ["%s", "%r", "%a", "%10s", "%-5d", "%05.1f", "%x", "%o", "%e", "%.30g", "%c", "%%", "%*d"]


def test_printf_bound_is_an_upper_bound_of_percent_formatting() -> None:
    for value in _samples():
        for conv in PRINTF:
            args: Any = (12, value) if "*" in conv else (value,)
            fmt = f"<{conv}|{conv.replace('*', '3')}>" if "*" not in conv else f"<{conv}>"
            args = args if "*" in conv else (value, value)
            try:
                built = fmt % args
            except (TypeError, ValueError, OverflowError):
                continue
            assert printf_bound(fmt, args) >= len(built), (fmt, args)
        try:
            raw = b"<%s|%r|%5b>" % (value, value, value)
        except (TypeError, ValueError):
            pass
        else:
            assert printf_bound(b"<%s|%r|%5b>", (value, value, value)) >= len(raw), value
        mapping = {"a": value, "b": "x"}
        built = "%(a)s-%(b)5s-%(a)r" % mapping  # noqa: UP031
        assert printf_bound("%(a)s-%(b)5s-%(a)r", mapping) >= len(built)


def test_the_compiled_template_cache_is_bounded_by_source_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Distinct dense templates compile to ~220 KB each: 4,096 cached ones were ~900 MB.
    monkeypatch.setattr(templates, "CACHE_CHARS", 8_000, raising=False)
    renderer = Renderer(workers=1)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(16):
            source = f"{{{{ {i} }}}}" + "{{ a.b(c)|d(e) }}" * 235
            assert renderer.check(source) is None
        gc.collect()  # a dropped template is a reference cycle (its module and functions)
        kept_mb = (tracemalloc.get_traced_memory()[0] - before) / 2**20
    finally:
        tracemalloc.stop()
        renderer.close()
    assert kept_mb < 1.2, f"the cache keeps {kept_mb:.1f} MB for 8,000 source characters"
