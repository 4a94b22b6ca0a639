"""Templates: placeholders compiled once; exact placeholders keep their type; clear errors."""
from __future__ import annotations

import random
import re
import time
import uuid

import orjson
import pytest

from driver.payloads.templates import Template, TemplateError, compile_template
from driver.payloads.users import UserPool
from driver.plan import UserPoolSpec

USER = UserPool(UserPoolSpec(), 0, 1, 2).user(1)  # premium, id 2000000001, Hannah Schneider
CAPTURED = {"token": "abc", "n": 5, "obj": {"a": [1]}, "flag": True, "none": None, "a.b": 7}


@pytest.mark.parametrize(
    "source, expected",
    [
        # a string that is exactly one placeholder keeps the value's type: int
        ("{{user.id}}", 2000000001),
        # inside a longer string the value is formatted
        ("id={{user.id}}", "id=2000000001"),
        # whitespace inside the braces is ignored
        ("{{ user.tier }}", "premium"),
        # several placeholders in one string
        ("{{user.first_name}} {{user.last_name}}", "Hannah Schneider"),
        # properties of the user work like fields
        ("{{user.full_name}}", "Hannah Schneider"),
        # a user attribute that is a string
        ("{{user.wa_id}}", USER.wa_id),
        # captured string, alone
        ("{{captured.token}}", "abc"),
        # captured int keeps its type when alone ...
        ("{{captured.n}}", 5),
        # ... and is formatted as digits inside text
        ("n={{captured.n}}", "n=5"),
        # captured object keeps its type when alone ...
        ("{{captured.obj}}", {"a": [1]}),
        # ... and is formatted as JSON inside text
        ("obj={{captured.obj}}", 'obj={"a":[1]}'),
        # booleans and None read as JSON inside text
        ("{{captured.flag}}/{{captured.none}}", "true/null"),
        # captured names may contain dots
        ("{{captured.a.b}}", 7),
        # the first render's counter is 1
        ("{{seq}}", 1),
        # no placeholder: the string as it is
        ("plain text", "plain text"),
        # single braces and unmatched doubles are literal text
        ("{x} {{seq}} }} {{", "{x} 1 }} {{"),
        # a structure: only placeholder strings change, types kept
        ({"id": "{{user.id}}", "list": [1, "#{{seq}}", None], "static": {"d": 1.5}},
         {"id": 2000000001, "list": [1, "#1", None], "static": {"d": 1.5}}),
        # a placeholder in a key renders as text
        ({"{{user.tier}}": 1, "k{{user.id}}": "{{captured.n}}"}, {"premium": 1, "k2000000001": 5}),
        # an exact placeholder in a key still renders as text
        ({"{{user.id}}": True}, {"2000000001": True}),
        # a list at the top
        (["{{captured.token}}", 2], ["abc", 2]),
        # tuples are JSON arrays
        (("a", "{{captured.n}}"), ["a", 5]),
        # static scalars and containers
        (42, 42),
        (None, None),
        ({}, {}),
        ([], []),
        # text that looks like the internal markers is ordinary text
        ({"k": '@@0123456789abcdef:0@@', "v": "{{seq}}"}, {"k": '@@0123456789abcdef:0@@', "v": 1}),
    ],
)
def test_render(source, expected):
    assert compile_template(source).render(USER, CAPTURED, random.Random(1)) == expected
    # render_json is the same value through the precompiled-chunk path
    body = compile_template(source).render_json(USER, CAPTURED, random.Random(1))
    assert orjson.loads(body) == expected
    assert body == orjson.dumps(expected)


@pytest.mark.parametrize(
    "source, message",
    [
        # unknown names are reported with the placeholder
        ("{{foo}}", "unknown placeholder {{foo}}"),
        # the environment is the config's job, not the template's
        ("{{env.HOME}}", "unknown placeholder {{env.HOME}}"),
        # user attributes are checked against SyntheticUser
        ("{{user.password}}", "SyntheticUser has no attribute 'password'"),
        # the location inside a structure is named
        ({"a": {"b": ["x", "{{nope}}"]}}, "unknown placeholder {{nope}} at $.a.b[1]"),
        # keys are checked too
        ({"{{bad}}": 1}, "unknown placeholder {{bad}} in a key at $"),
        # an empty placeholder
        ("{{}}", "unknown placeholder {{}}"),
        # randint needs two integers, low <= high
        ("{{randint:5,1}}", "bad placeholder {{randint:5,1}}"),
        ("{{randint:1}}", "bad placeholder {{randint:1}}"),
        ("{{randint:a,2}}", "bad placeholder {{randint:a,2}}"),
        ("{{randint}}", "bad placeholder {{randint}}"),
        ("{{randint:0,10000000000000000000}}", "B - A < 2**53"),
        # choice needs at least one item
        ("{{choice:}}", "bad placeholder {{choice:}}"),
        # captured needs a name
        ("{{captured.}}", "bad placeholder {{captured.}}"),
        ("{{captured.a b}}", "bad placeholder {{captured.a b}}"),
        # not JSON: keys must be strings, values JSON types
        ({1: "x"}, "not JSON-serialisable"),
        ({"a": {1, 2}}, "not JSON-serialisable"),
    ],
)
def test_compile_errors(source, message):
    with pytest.raises(TemplateError, match=re.escape(message)):
        compile_template(source)


def test_template_error_is_a_value_error():
    assert issubclass(TemplateError, ValueError)


@pytest.mark.parametrize("captured", [{}, None, {"other": 1}])
def test_missing_captured_value_at_render(captured):
    template = compile_template({"auth": "Bearer {{captured.token}}"})
    with pytest.raises(TemplateError, match=re.escape("captured value 'token' not set")):
        template.render(USER, captured, random.Random(0))
    with pytest.raises(TemplateError, match=re.escape("captured value 'token' not set")):
        template.render_json(USER, captured, random.Random(0))


def test_seq_counts_renders_and_is_shared_within_one():
    template = compile_template({"a": "{{seq}}", "b": "n{{seq}}"})
    assert template.render() == {"a": 1, "b": "n1"}
    assert orjson.loads(template.render_json()) == {"a": 2, "b": "n2"}
    assert template.render_str() == '{"a":3,"b":"n3"}'
    other = compile_template("{{seq}}")
    assert [other.render() for _ in range(3)] == [1, 2, 3]  # each template counts its own


def test_clock_placeholders():
    template = compile_template({"s": "{{now}}", "ms": "{{now_ms}}", "ms2": "{{now_ms}}"})
    before = time.time()
    value = template.render()
    after = time.time()
    assert int(before) <= value["s"] <= after
    assert int(before * 1000) <= value["ms"] <= after * 1000
    assert value["ms"] == value["ms2"]  # one clock reading per render


def test_uuid_is_drawn_per_occurrence():
    value = compile_template(["{{uuid}}", "{{uuid}}"]).render()
    assert all(uuid.UUID(v).version == 4 for v in value)
    assert value[0] != value[1]


def test_randint_and_choice_draw_from_rng():
    template = compile_template({"r": "{{randint:-2,3}}", "c": "{{choice:a,b,c}}"})
    draws = [template.render(USER, None, random.Random(seed)) for seed in range(300)]
    assert {d["r"] for d in draws} == {-2, -1, 0, 1, 2, 3}
    assert {d["c"] for d in draws} == {"a", "b", "c"}
    same = [template.render(USER, None, random.Random(seed)) for seed in range(300)]
    assert draws == same  # deterministic for a seeded rng
    assert template.render()["c"] in "abc"  # rng=None: the random module


def test_static_templates_are_constants():
    template = compile_template({"a": [1, 2], "b": "text"})
    assert template.is_static and template.placeholders == ()
    assert template.render_json() is template.render_json()
    assert template.render() == {"a": [1, 2], "b": "text"}


def test_source_is_copied_at_compile_time():
    source = {"a": ["{{seq}}"], "b": {"c": 1}}
    template = compile_template(source)
    source["b"]["c"] = 2
    source["a"].append("x")
    assert template.render() == {"a": [1], "b": {"c": 1}}


def test_render_str_is_always_text():
    assert compile_template("{{user.id}}").render_str(USER) == "2000000001"
    assert compile_template("x{{captured.n}}").render_str(USER, CAPTURED) == "x5"
    assert compile_template({"a": "{{captured.n}}"}).render_str(USER, CAPTURED) == '{"a":5}'


def test_placeholders_listed_in_document_order():
    template = compile_template({"{{user.tier}}": ["{{seq}}", "{{user.id}}/{{uuid}}"]})
    assert isinstance(template, Template)
    assert template.placeholders == ("user.tier", "seq", "user.id", "uuid")


@pytest.mark.parametrize(
    "source, expected",
    [
        # quotes, backslashes, braces and newlines around placeholders stay literal text
        ('a"b\'c\\d{e}\n{{seq}}}x{', 'a"b\'c\\d{e}\n1}x{'),
        # text that reads like Python is only text: the generated code never contains it
        ('" + __import__("os").getcwd() + "{{seq}}', '" + __import__("os").getcwd() + "1'),
        ("{{choice:a\"),b}}", None),  # an item with a quote and a paren: drawn as it is
        # an f-string's own syntax inside the literal parts
        ("{x!r:>{w}} {{user.tier}} }} {{", "{x!r:>{w}} premium }} {{"),
    ],
)
def test_literals_are_never_code(source, expected):
    value = compile_template(source).render(USER, CAPTURED, random.Random(3))
    if expected is not None:
        assert value == expected
    else:
        assert value in ('a")', "b")


def test_placeholder_names_cannot_reach_python():
    # dunder attributes are not SyntheticUser fields: refused at compile time
    for bad in ("{{user.__class__}}", "{{user.id.__class__}}", "{{user.id;x}}"):
        with pytest.raises(TemplateError, match="unknown placeholder"):
            compile_template(bad)


def test_generated_code_reports_the_payloads_package():
    """Profiles and tracebacks name the template's generated code as this package's."""
    template = compile_template({"a": "{{captured.missing}}"})
    with pytest.raises(TemplateError) as info:
        template.render_json(USER, {}, None)
    assert any("driver/payloads/<template>" in str(tb.path) for tb in info.traceback)
