"""The Reddit source against a fake Reddit on 127.0.0.1 (tests/fakeforum.FakeReddit).

Every test that talks to the fake asserts ``forum.violations == []``: the fake fails a test whose
client asked without ``raw_json=1``, sent requests closer together than its minimum interval, or
asked when the rate-limit window it announced had no request left.
"""

from __future__ import annotations

import pytest

from ffui.data.errors import DataError
from ffui.data.sources.fourchan import PairOptions
from ffui.data.sources.reddit import RedditOptions, RedditSource, pairs_from_raw, post_id_from_url

from fakeforum import FakeForum

INTERVAL_S = 0.05
POST = "How do I learn Rust?\n\nI know Python & Go."
CODE = "Start with:\n\n    cargo new hello\n\nthen `cargo run` & read the errors."
TREE = [
    {"id": "c1", "body": "Read the book.", "author": "alice", "replies": [
        {"id": "c2", "body": CODE, "author": "bob", "replies": [
            {"id": "c3", "body": "Your comment was removed: too short.", "author": "AutoModerator"},
            {"id": "c4", "body": "[deleted]", "author": "[deleted]", "replies": [
                {"id": "c5", "body": "I agree with the deleted one.", "author": "dave"}]},
        ]},
        {"id": "c6", "body": "I will remind you in 2 days.", "author": "RemindMeBot"},
    ]},
    {"id": "c7", "body": "[removed]", "author": "eve"},
    {"id": "c8", "body": "Write a small CLI tool.", "author": "carol", "replies": [
        {"id": "c9", "body": "Like ripgrep?", "author": "alice"}]},
]


def io(pairs) -> list[tuple[str, str]]:
    return [(p["input"], p["output"]) for p in pairs]


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.fixture
def forum():
    with FakeForum(min_interval_s=INTERVAL_S) as f:
        f.reddit.add_post("rust", "p1", "How do I learn Rust?", "I know Python & Go.", TREE)
        f.reddit.collapsed.add("c8")  # behind "load more comments": fetched with /api/morechildren
        yield f
        assert f.violations == []


def source(forum: FakeForum, subreddit: str | None = "rust", **kw) -> RedditSource:
    kw.setdefault("api_url", forum.url)
    kw.setdefault("min_interval_s", INTERVAL_S)
    return RedditSource(subreddit, **kw)


def test_parent_child_pairs_skip_deleted_removed_and_bots_and_load_collapsed_comments(forum):
    kept = []
    with source(forum, on_thread=kept.append, contact="mailto:me@example.org") as src:
        rows = [r for _, r in src.rows()]
    assert io(rows) == [(POST, "Read the book."), ("Read the book.", CODE),
                        (POST, "Write a small CLI tool."), ("Write a small CLI tool.", "Like ripgrep?")]
    assert rows[1]["source_url"] == "https://www.reddit.com/r/rust/comments/p1/how_do_i_learn_rust?/c2/"
    assert rows[1]["metadata"]["comments"] == ["c1", "c2"] and rows[1]["metadata"]["subreddit"] == "rust"
    more = [r for r in forum.requests if r.path == "/api/morechildren.json"]
    assert len(more) == 1
    assert {r.headers["User-Agent"] for r in forum.requests} == {"ffui/0.1.0 (+mailto:me@example.org)"}
    assert src.source_details == "subreddit=rust sort=hot mode=parent-child"
    # no author is kept, not even in the raw posts kept for a repair
    assert not any(name in repr(kept) for name in ("alice", "bob", "carol", "dave"))


def test_contextual_pairs_take_the_ancestors_and_repair_needs_no_request(forum):
    kept = []
    with source(forum, options=RedditOptions("contextual", context_k=0), on_thread=kept.append) as src:
        rows = [r for _, r in src.rows()]
    assert io(rows)[1] == (f"{POST}\n\nRead the book.", CODE)
    assert io(rows)[3] == (f"{POST}\n\nWrite a small CLI tool.", "Like ripgrep?")
    sent = len(forum.requests)
    again = io(pairs_from_raw(kept, RedditOptions("contextual", context_k=1)))
    assert again[1] == ("Read the book.", CODE) and len(forum.requests) == sent
    short = io(pairs_from_raw(kept, RedditOptions(filters=PairOptions(min_chars=15))))
    assert short == [(POST, "Write a small CLI tool.")]  # every other pair has a short side


def test_the_listing_is_paged_with_after_and_one_post_by_url(forum):
    for n in (2, 3):
        forum.reddit.add_post("rust", f"p{n}", f"Post {n}", "", [{"id": f"x{n}", "body": f"reply {n}"}])
    with source(forum, sort="top", time="week") as src:
        rows = [r for _, r in src.rows()]
    listings = [r for r in forum.requests if r.path == "/r/rust/top.json"]
    assert len(listings) == 2  # two posts a page in the fake: the second page asked with after=t3_p2
    assert io(rows)[-2:] == [("Post 2", "reply 2"), ("Post 3", "reply 3")]
    assert src.after is None
    with source(forum, None, post="https://www.reddit.com/r/rust/comments/p3/post_3/") as one:
        assert io(r for _, r in one.rows()) == [("Post 3", "reply 3")]


def test_the_rate_limit_headers_are_obeyed(forum):
    forum.reddit.limit, forum.reddit.window_s = 2, 1.5  # two requests, then wait for the window
    forum.reddit.collapsed.clear()
    forum.reddit.add_post("rust", "p2", "Post 2", "", [{"id": "x2", "body": "reply 2"}])
    with source(forum) as src:
        rows = [r for _, r in src.rows()]
    assert len(forum.requests) == 3 and len(rows) == 5  # a listing and two comment pages
    assert forum.requests[2].at - forum.requests[0].at >= 1.4  # the third waited for the reset
    assert src.client.waited_s >= 1.0


def test_429_then_success(forum):
    forum.busy(1, retry_after=1)
    with source(forum) as src:
        assert len(list(src.rows())) == 4
    assert forum.requests[1].at - forum.requests[0].at >= 0.98


def test_a_missing_or_private_subreddit_and_a_bad_url_are_one_line(forum):
    with pytest.raises(DataError) as e:
        list(source(forum, "nosuchsub").rows())
    assert one_line(e.value) == "reddit: there is no subreddit r/nosuchsub (or it is banned) (check the name)"
    forum.reddit.posts["secret"] = []
    forum.reddit.private.add("secret")
    with pytest.raises(DataError) as e:
        list(source(forum, "secret").rows())
    assert "r/secret is private or quarantined" in one_line(e.value)
    with pytest.raises(DataError) as e:
        post_id_from_url("https://example.org/nothing")
    assert "is not the URL of a Reddit post" in one_line(e.value)
    with pytest.raises(DataError) as e:
        RedditOptions("threaded")
    assert one_line(e.value) == ("unknown pairing mode 'threaded' for reddit (use one of "
                                 "parent-child, contextual)")
    with pytest.raises(DataError) as e:
        RedditSource("rust", post="https://redd.it/abc")
    assert "either a subreddit or a post URL" in one_line(e.value)
