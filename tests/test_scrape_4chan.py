"""The 4chan source and the polite HTTP client, against a fake 4chan on 127.0.0.1 (tests/fakeforum).

Every test that talks to the fake also asserts ``forum.violations == []``: the fake fails a test
whose client sent two requests less than a second apart or fetched a thread twice within 10 s.
"""

from __future__ import annotations

import socket

import pytest

from ffui.data.errors import DataError
from ffui.data.sources import FourChanSource
from ffui.data.sources.fourchan import (PairOptions, pairs_from_raw, post_text, raw_thread,
                                        thread_pairs)
from ffui.data.sources.http import NOT_MODIFIED, PoliteClient, Proxies

from fakeforum import FakeForum

OP = "Rust or Go?\n\nWhich should I learn first?"
R1 = "Rust. The borrow checker teaches you a lot."
R2 = "Go & ship it."
R3 = "It also slows you down."
R4 = 'Example:\n```\nfn main() {\n    println!("hi");\n}\n```'
R5 = ">slows you down\nOnly at first."

# one thread, as 4chan serves it: poster ids on /g/-style boards; 1003 and 1004 are one poster's
# consecutive posts; 1002 quotes nothing
POSTS = [
    {"no": 1000, "sub": "Rust or Go?", "com": "Which should I learn first?", "id": "aaa",
     "name": "Anonymous", "trip": "!Op.Trip"},
    {"no": 1001, "com": '<a href="#p1000" class="quotelink">&gt;&gt;1000</a><br>Rust. The '
     "borrow checker teaches you a lot.", "id": "bbb", "name": "rustacean"},
    {"no": 1002, "com": "Go &amp; ship it.", "id": "ccc"},
    {"no": 1003, "com": '<a href="#p1001" class="quotelink">&gt;&gt;1001</a><br>It also slows '
     "you down.", "id": "aaa"},
    {"no": 1004, "com": 'Example:<br><pre class="prettyprint">fn main() {<br>    println!('
     "&quot;hi&quot;);<br>}</pre>", "id": "aaa"},
    {"no": 1005, "com": '<a href="#p1003" class="quotelink">&gt;&gt;1003</a><br><span '
     'class="quote">&gt;slows you down</span><br>Only at first.', "id": "bbb"},
]


def known_thread() -> dict:
    forum = FakeForum()
    thread = forum.add_thread("g", POSTS)
    return raw_thread("g", {"posts": thread["posts"]})


def io(pairs) -> list[tuple[str, str]]:
    return [(p["input"], p["output"]) for p in pairs]


@pytest.fixture
def forum():
    with FakeForum() as f:
        f.add_thread("g", POSTS)
        yield f
        assert f.violations == []


def source(forum: FakeForum, **kw) -> FourChanSource:
    kw.setdefault("api_url", forum.url)
    return FourChanSource(kw.pop("boards", ["g"]), **kw)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


# -- post text and pairing (pure) -------------------------------------------------------------

def test_post_html_keeps_breaks_entities_quotes_and_code():
    assert post_text(POSTS[4]["com"]) == R4
    assert post_text(POSTS[5]["com"]) == ">>1003\n" + R5
    assert post_text("a &lt;b&gt; &amp; &#039;c&#039;<br><br>new para<wbr>graph") == \
        "a <b> & 'c'\n\nnew paragraph"


def test_adjacent_pairs_each_post_answers_the_previous():
    assert io(thread_pairs(known_thread(), PairOptions("adjacent"))) == [
        (OP, R1), (R1, R2), (R2, R3), (R3, R4), (R4, R5)]


def test_contextual_pairs_take_the_last_k_posts():
    assert io(thread_pairs(known_thread(), PairOptions("contextual", context_k=2))) == [
        (OP, R1), (f"{OP}\n\n{R1}", R2), (f"{R1}\n\n{R2}", R3), (f"{R2}\n\n{R3}", R4),
        (f"{R3}\n\n{R4}", R5)]
    everything = io(thread_pairs(known_thread(), PairOptions("contextual", context_k=0)))
    assert everything[-1] == ("\n\n".join([OP, R1, R2, R3, R4]), R5)


def test_quote_chain_follows_links_and_merges_one_posters_run():
    merged = f"{R3}\n\n{R4}"  # 1003 and 1004: one poster, one after the other
    assert io(thread_pairs(known_thread(), PairOptions("quote-chain", context_k=6))) == [
        (OP, R1), (f"{OP}\n\n{R1}", merged), (f"{OP}\n\n{R1}\n\n{merged}", R5)]
    assert io(thread_pairs(known_thread(), PairOptions("quote-chain", context_k=1)))[-1] == (merged, R5)


def test_filters_drop_short_banned_and_duplicate_pairs():
    raw = known_thread()
    kept = io(pairs_from_raw([raw, raw], PairOptions("adjacent", min_chars=15, banned=(r"(?i)borrow",))))
    assert kept == [(R3, R4), (R4, R5)]  # R2 is short, R1 banned, the second thread a duplicate


def test_names_tripcodes_and_ids_are_not_kept():
    raw = known_thread()
    text = repr(raw)
    assert "rustacean" not in text and "Op.Trip" not in text and "'aaa'" not in text
    assert raw["posts"][0]["poster"] == raw["posts"][3]["poster"] is not None


def test_a_bad_pairing_option_is_one_line():
    with pytest.raises(DataError) as e:
        PairOptions("threaded")
    assert "adjacent, contextual, quote-chain" in one_line(e.value)
    with pytest.raises(DataError) as e:
        PairOptions(banned=("(unclosed",))
    assert "not a valid regular expression" in one_line(e.value)


# -- the source against the fake --------------------------------------------------------------

def test_scrape_gives_pairs_with_urls_and_keeps_raw_threads_for_repair(forum):
    forum.add_thread("sci", [{"no": 2000, "com": "Is light a wave?"},
                             {"no": 2001, "com": "It is both, &gt;&gt;2000"}])
    kept = []
    src = source(forum, boards=["g", "sci"], on_thread=kept.append, contact="mailto:me@example.org")
    with src:
        rows = list(src.rows())
    assert src.source_details == "boards=g,sci mode=adjacent"
    assert [io([r]) for _, r in rows] == [[p] for p in [(OP, R1), (R1, R2), (R2, R3), (R3, R4),
                                                         (R4, R5), ("Is light a wave?", "It is both,")]]
    first = rows[0][1]
    assert first["source_url"] == "https://boards.4chan.org/g/thread/1000#p1001"
    assert first["metadata"]["board"] == "g" and first["metadata"]["posts"] == [1000, 1001]
    assert rows[0][0] == (1000, 1001) and src.where(rows[0][0]) == "thread 1000, post 1001"
    # repair: the kept threads paired another way, without a request
    sent = len(forum.requests)
    again = io(pairs_from_raw(kept, PairOptions("quote-chain")))
    assert again[0] == (OP, R1) and len(forum.requests) == sent


def test_requests_are_a_second_apart_and_the_user_agent_is_honest(forum):
    forum.add_thread("g", [{"no": 3000, "com": "second thread"}, {"no": 3001, "com": "a reply"}])
    with source(forum, contact="mailto:me@example.org") as src:
        list(src.rows())
    times = [r.at for r in forum.requests]
    assert len(times) == 3  # the catalog, two threads
    assert all(b - a >= 0.98 for a, b in zip(times, times[1:]))
    agents = {r.headers["User-Agent"] for r in forum.requests}
    assert agents == {"ffui/0.1.0 (+mailto:me@example.org)"}


async def test_the_api_url_contact_and_proxy_come_from_the_stored_settings(db, ffui, home, forum):
    from ffui.db.settings import list_settings

    proxy = forum.url.replace("http://", "http://u:pw1234@")
    for key, value in (("sources.contact", "https://example.org/me"),
                       ("sources.4chan.api_url", "http://4chan.invalid"), ("proxy.http", proxy)):
        r = ffui("settings", "set", key, value, home=home)
        assert r.returncode == 0, r.stderr
    stored = {s["key"]: s["value"] for s in await list_settings(db, mask_secrets=False)}
    with FourChanSource.from_settings(["g"], stored, max_pairs=2) as src:
        assert len(list(src.rows())) == 2
    assert {r.headers["User-Agent"] for r in forum.requests} == {"ffui/0.1.0 (+https://example.org/me)"}
    assert all(r.absolute and "Proxy-Authorization" in r.headers for r in forum.requests)


def test_429_with_retry_after_is_waited_out_then_succeeds(forum):
    forum.busy(2, retry_after=1)
    with source(forum) as src:
        rows = list(src.rows())
    assert len(rows) == 5
    statuses = forum.requests
    assert [r.path for r in statuses[:3]] == ["/g/catalog.json"] * 3
    assert statuses[2].at - statuses[1].at >= 0.98


def test_429_that_never_ends_is_one_line_after_bounded_backoff():
    waits = []
    clock = [0.0]

    def sleep(s):
        waits.append(s)
        clock[0] += s

    with FakeForum(min_interval_s=0) as f:
        f.add_thread("g", POSTS)
        f.busy(10, retry_after=None)
        client = PoliteClient("4chan", max_retries=3, clock=lambda: clock[0], sleep=sleep)
        with pytest.raises(DataError) as e, client:
            list(source(f, client=client).rows())
    assert waits == [2.0, 4.0, 8.0]  # no Retry-After: doubling from 2 s, three retries
    assert one_line(e.value) == ("4chan, /g/ catalog: still answers 429 (too many requests) after "
                                 "3 retries (wait a few minutes and try again)")


def test_a_retry_after_too_long_to_wait_says_when_to_come_back(forum):
    forum.busy(1, retry_after=3600)
    with pytest.raises(DataError) as e:
        list(source(forum).rows())
    assert "asks ffui to wait 3600 s" in one_line(e.value) and "try again after" in str(e.value)


def test_an_unknown_board_is_one_line(forum):
    with pytest.raises(DataError) as e:
        list(source(forum, boards=["zz"]).rows())
    assert one_line(e.value) == ("4chan: there is no board /zz/ (check the name (4chan boards are "
                                 "short: g, sci, ...))")


def test_a_thread_pruned_after_the_catalog_is_skipped_and_counted(forum):
    forum.add_thread("g", [{"no": 3000, "com": "soon gone"}, {"no": 3001, "com": "bump"}])
    forum.prune(1000)
    with source(forum) as src:
        assert io(r for _, r in src.rows()) == [("soon gone", "bump")]
    assert (src.threads_fetched, src.threads_gone) == (1, 1)


def test_a_thread_not_in_4chans_shape_is_one_line():
    import httpx2

    def api(request):
        if request.url.path.endswith("catalog.json"):
            return httpx2.Response(200, json=[{"page": 1, "threads": [{"no": 5}]}])
        return httpx2.Response(200, json={"posts": [{"com": "no number"}]})

    client = PoliteClient("4chan", transport=httpx2.MockTransport(api), min_interval_s=0)
    with pytest.raises(DataError) as e:
        list(FourChanSource(["g"], client=client).rows())
    assert one_line(e.value) == ("4chan, /g/ thread 5: is not in the shape of a 4chan thread (an "
                                 "object with posts) (is sources.4chan.api_url right?)")


def test_a_bad_board_name_is_refused_before_any_request():
    with pytest.raises(DataError) as e:
        FourChanSource(["g", "../x"])
    assert "'../x' is not a board name" in one_line(e.value)


def test_connection_refused_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(DataError) as e:
        list(FourChanSource(["g"], api_url=f"http://127.0.0.1:{port}").rows())
    assert one_line(e.value).startswith("4chan, /g/ catalog: 127.0.0.1 refused the connection")


def test_dns_failure_403_and_bad_json_are_one_line():
    import httpx2

    def no_dns(request):
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as e:
            raise httpx2.ConnectError("[Errno -2] Name or service not known") from e

    client = PoliteClient("4chan", transport=httpx2.MockTransport(no_dns))
    with pytest.raises(DataError) as e:
        list(FourChanSource(["g"], client=client).rows())
    assert "cannot find the host a.4cdn.org (DNS lookup failed)" in one_line(e.value)

    forbidden = httpx2.MockTransport(lambda r: httpx2.Response(403))
    with pytest.raises(DataError) as e:
        list(FourChanSource(["g"], client=PoliteClient("4chan", transport=forbidden)).rows())
    assert one_line(e.value) == ("4chan, /g/ catalog: refuses access (403 Forbidden) (the site may "
                                 "block this network or its proxy; check the proxy.* settings)")

    html = httpx2.MockTransport(lambda r: httpx2.Response(200, text="<html>login</html>"))
    with pytest.raises(DataError) as e:
        list(FourChanSource(["g"], client=PoliteClient("4chan", transport=html)).rows())
    assert "/g/ catalog: answered with something that is not JSON" in one_line(e.value)


def test_if_modified_since_gives_304_and_a_thread_is_not_fetched_twice_within_10s(forum):
    catalog = f"{forum.url}/g/catalog.json"
    with PoliteClient("4chan") as client:
        assert client.get_json(catalog)[0]["threads"][0]["no"] == 1000
        assert client.get_json(catalog) is NOT_MODIFIED
        assert "If-Modified-Since" in forum.requests[1].headers
        src = source(forum, client=client)
        assert len(list(src.rows())) == 5
        assert len(list(src.rows())) == 0  # a second pass at once: the catalog, no thread
    assert forum.thread_paths() == ["/g/thread/1000.json"]
    assert [r.path for r in forum.requests[2:]] == ["/g/catalog.json", "/g/thread/1000.json",
                                                    "/g/catalog.json"]


def test_the_proxy_is_used_and_its_password_never_shown(forum):
    proxy = forum.url.replace("http://", "http://scraper:hunter2pw@")
    proxies = Proxies.from_settings({"proxy.http": proxy})
    with source(forum, api_url="http://4chan.invalid", proxies=proxies) as src:
        assert len(list(src.rows())) == 5  # 4chan.invalid resolves nowhere: only the proxy got it
    assert all(r.absolute for r in forum.requests)
    assert forum.requests[0].headers["Proxy-Authorization"].startswith("Basic ")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://scraper:hunter2pw@127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(DataError) as e:
        list(source(forum, api_url="http://4chan.invalid",
                    proxies=Proxies.from_settings({"proxy.http": dead})).rows())
    text = one_line(e.value)
    assert "through the proxy http://127.0.0.1:" in text
    assert "hunter2pw" not in text and "scraper" not in text
    from ffui.db.secrets import redact

    assert redact(f"log line naming {dead}") == "log line naming " + dead.replace("hunter2pw", "***")


def test_no_proxy_hosts_go_direct(forum):
    proxies = Proxies.from_settings({"proxy.http": "http://127.0.0.1:9", "proxy.no_proxy": "127.0.0.1"})
    with source(forum, proxies=proxies) as src:
        assert len(list(src.rows())) == 5
    assert not any(r.absolute for r in forum.requests)


def test_an_api_url_that_is_not_a_url_is_refused(ffui, home):
    r = ffui("settings", "set", "sources.4chan.api_url", "a.4cdn.org", home=home)
    assert r.returncode == 1
    assert r.stderr.strip() == ("ffui: sources.4chan.api_url must be a URL like https://a.4cdn.org, "
                                "got 'a.4cdn.org'; nothing was changed")


def test_a_socks_proxy_without_socksio_is_one_line():
    try:
        import socksio  # noqa: F401
        pytest.skip("socksio is installed: SOCKS proxies work")
    except ImportError:
        pass
    socks = Proxies.from_settings({"proxy.https": "socks5://u:sockspw1@127.0.0.1:1080"})
    with pytest.raises(DataError) as e:
        PoliteClient("4chan", proxies=socks)
    text = one_line(e.value)
    assert text == ("4chan: a proxy.* setting names a SOCKS proxy, which needs the socksio "
                    "package (pip install socksio)") and "sockspw1" not in text
