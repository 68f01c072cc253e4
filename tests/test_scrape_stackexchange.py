"""The Stack Exchange source against a fake API 2.3 on 127.0.0.1 (tests/fakeforum.FakeStackExchange).

Every test that talks to the fake asserts ``forum.violations == []``: the fake fails a test whose
client asked before a ``backoff`` had passed, without ``filter=withbody``, with more than 100
ids, or after the quota was used up.
"""

from __future__ import annotations

import pytest

from ffui.data.errors import DataError
from ffui.data.sources.stackexchange import (StackExchangeOptions, StackExchangeSource, html_text,
                                             pairs_from_raw)

from fakeforum import FakeForum

Q1 = "How to reverse a list & keep it?\n\nI have `xs`:\n\n```\nxs = [1, 2]\nys = xs\n```\n\nWhat now?"
A1 = "Use `xs[::-1]`, which copies."
A2 = "The best way:\n\n- `reversed(xs)`\n- `xs[::-1]`"


@pytest.fixture
def forum():
    with FakeForum(min_interval_s=0.05) as f:
        se = f.stackexchange
        se.add_question("stackoverflow", 11, "How to reverse a list &amp; keep it?",
                        "<p>I have <code>xs</code>:</p>\n<pre><code>xs = [1, 2]\nys = xs\n</code></pre>\n"
                        "<p>What now?</p>", [
                            {"answer_id": 111, "body": "<p>Use <code>xs[::-1]</code>, which copies.</p>",
                             "score": 3, "is_accepted": True, "owner": "Ann &amp; Co"},
                            {"answer_id": 112, "body": "<p>Or reversed().</p>", "score": 10}])
        se.add_question("stackoverflow", 12, "Best way to iterate backwards?", "<p>Which?</p>", [
            {"answer_id": 121, "body": "<p>The best way:</p><ul><li><code>reversed(xs)</code></li>"
             "<li><code>xs[::-1]</code></li></ul>", "score": 4, "owner": "Bo"},
            {"answer_id": 122, "body": "<p>A loop.</p>", "score": 1}])
        se.add_question("stackoverflow", 13, "Unloved question", "<p>Anyone?</p>",
                        [{"answer_id": 131, "body": "<p>Nope.</p>", "score": 0}])
        se.add_question("stackoverflow", 14, "Unanswered", "<p>Hello?</p>", [])
        se.add_question("stackoverflow", 15, "A rust question", "<p>Borrowing?</p>",
                        [{"answer_id": 151, "body": "<p>Yes.</p>", "score": 9}], tags=("rust",))
        yield f
        assert f.violations == []


def source(forum: FakeForum, site: str = "stackoverflow", **kw) -> StackExchangeSource:
    kw.setdefault("api_url", f"{forum.url}/2.3")
    kw.setdefault("min_interval_s", 0.05)
    return StackExchangeSource(site, **kw)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_questions_pair_with_the_accepted_else_the_top_answer_with_attribution(forum):
    kept = []
    with source(forum, tagged=["python"], on_thread=kept.append) as src:
        rows = [r for _, r in src.rows()]
    assert [(r["input"], r["output"]) for r in rows] == [
        (Q1, A1),  # accepted, though 112 has more votes
        ("Best way to iterate backwards?\n\nWhich?", A2)]  # none accepted: the top-voted
    first = rows[0]
    assert first["source_url"] == "https://stackoverflow.com/a/111"
    attribution = first["metadata"]["attribution"]
    assert attribution.pop("question_url").startswith("https://stackoverflow.com/questions/11/")
    assert attribution == {"url": "https://stackoverflow.com/a/111", "author": "Ann & Co",
                           "author_url": "https://stackoverflow.com/users/111/x",
                           "licence": "CC BY-SA 4.0", "question_author": "Asker"}
    assert src.source_details == "site=stackoverflow tagged=python min_score=1"
    # two question pages (two a page in the fake), each followed by one answers request
    paths = [r.path for r in forum.requests]
    assert paths == ["/2.3/questions", "/2.3/questions/11;12/answers", "/2.3/questions",
                     "/2.3/questions/13/answers"]  # 14 has no answer: not asked for
    assert src.quota_remaining == 296
    assert [(r["input"][:8], r["output"]) for r in pairs_from_raw(kept, StackExchangeOptions(min_score=0))][-1] \
        == ("Unloved ", "Nope.")


def test_the_backoff_field_is_obeyed(forum):
    forum.stackexchange.backoff(1.0)
    with source(forum, tagged=["python"]) as src:
        assert len(list(src.rows())) == 2
    assert forum.requests[1].at - forum.requests[0].at >= 0.98


def test_a_used_up_quota_stops_with_one_line_and_no_further_request(forum):
    forum.stackexchange.quota = 2
    with pytest.raises(DataError) as e, source(forum, tagged=["python"]) as src:
        list(src.rows())
    assert one_line(e.value).startswith("stackexchange: the day's request quota is used up")
    assert len(forum.requests) == 2
    forum.stackexchange.quota = 0  # used up before ffui asked: the API's throttle_violation
    with pytest.raises(DataError) as e:
        list(source(forum).rows())
    forum.violations.clear()  # (that request was the fake's point)
    assert "refuses more requests from this address today (it resets at " in one_line(e.value)


def test_an_unknown_site_is_one_line_and_the_key_never_shows(forum):
    with pytest.raises(DataError) as e:
        list(source(forum, "nosuchsite", key="k3y-s3cr3t-value").rows())
    assert one_line(e.value) == ("stackexchange: there is no site 'nosuchsite' (name it as the API "
                                 "does: stackoverflow, superuser, math, ...)")
    assert "k3y-s3cr3t-value" not in str(e.value)
    from ffui.db.secrets import redact

    assert "k3y-s3cr3t-value" not in redact(f"GET /2.3/questions?key=k3y-s3cr3t-value")
    with pytest.raises(DataError) as e:
        StackExchangeSource("../etc")
    assert "is not a site name" in one_line(e.value)


def test_html_bodies_keep_paragraphs_lists_and_code():
    assert html_text("<p>a &lt;b&gt;\n  c</p><blockquote><p>quoted</p></blockquote>"
                     "<pre><code>  indented\n\n  kept</code></pre><ol><li>one</li><li>two</li></ol>") == \
        "a <b> c\n\nquoted\n\n```\n  indented\n\n  kept\n```\n\n- one\n- two"
