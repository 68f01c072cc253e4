"""Hub ids, end to end: the real `ffui` talks HTTP to a fake Hugging Face Hub (tests/fakehub.py).

huggingface_hub, datasets and transformers are not mocked: HF_ENDPOINT points them at the fake,
which answers like huggingface.co (repo info, tree listings, resolve with ETag/X-Repo-Commit,
LFS redirects to a "CDN", gated and missing repos). Every test gets its own HF cache.
"""

import json
import sqlite3

import pytest

import procs_support
from fakehub import FakeHub

pytest.importorskip("datasets", reason="importing hub datasets needs the 'datasets' package")
pytest.importorskip("pyarrow", reason="the parquet hub dataset is written with pyarrow")

TOKEN = "hf_TESTtokenDoNotLeak0123456789abcdef"

CONVERSATIONS = [
    {"messages": [
        {"role": "system", "content": f"You are a terse assistant (#{i})."},
        {"role": "user", "content": f"What is {i} plus {i}?"},
        {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
        {"role": "user", "content": f"And times {i}? ünïcödé ✓"},
        {"role": "assistant", "content": f"{i} times {i} is {i * i}."},
    ]}
    for i in range(6)
]

PARQUET_README = """---
dataset_info:
  features:
  - name: instruction
    dtype: string
  - name: output
    dtype: string
  splits:
  - name: train
    num_examples: 11
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
---
# Q and A
"""


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running fake hub and the environment that points ffui (and its children) at it.

    Nothing cached or logged in from the caller's environment may leak in: the HF caches live
    in tmp_path, offline switches and tokens from the environment are removed."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN",
                "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    with FakeHub(token=TOKEN) as h:
        hf = tmp_path / "hf"
        h.env = {
            "HF_ENDPOINT": h.url, "HF_HOME": str(hf), "HF_HUB_CACHE": str(hf / "hub"),
            "HF_DATASETS_CACHE": str(hf / "datasets"), "HF_HUB_DISABLE_TELEMETRY": "1",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        }
        yield h
    assert not h.unknown, f"the libraries called endpoints the fake hub does not implement: {h.unknown}"


def chat_repo(root):
    root.mkdir()
    (root / "README.md").write_text("---\nlicense: mit\n---\n# Chat\n")
    with open(root / "conversations.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in CONVERSATIONS)
    return root


def one_error_line(r, *fragments):
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def exported(ffui, home, name, path, env):
    r = ffui("data", "export", name, path, home=home, env=env)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_hub_datasets_import_and_export_the_same_rows(ffui, home, hub, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    hub.add_dataset("org/chat", chat_repo(tmp_path / "chat"))
    qa = tmp_path / "qa"
    (qa / "data").mkdir(parents=True)
    (qa / "README.md").write_text(PARQUET_README)
    pq.write_table(pa.table({"instruction": [f"Question {i}?" for i in range(11)],
                             "output": [f"Answer {i}." for i in range(11)]}),
                   qa / "data" / "train-00000-of-00001.parquet")
    hub.add_dataset("org/qa", qa)

    r = ffui("data", "import", "org/chat", "--name", "chat", home=home, env=hub.env)
    assert r.returncode == 0, r.stderr
    assert "imported 6 rows into chat" in r.stdout
    assert exported(ffui, home, "chat", tmp_path / "out.jsonl", hub.env) == CONVERSATIONS

    r = ffui("data", "import", "org/qa", "--name", "qa", home=home, env=hub.env)
    assert r.returncode == 0, r.stderr
    assert "imported 11 rows into qa" in r.stdout
    rows = exported(ffui, home, "qa", tmp_path / "qa.jsonl", hub.env)
    assert [(x["instruction"], x["output"]) for x in rows] == [(f"Question {i}?", f"Answer {i}.") for i in range(11)]

    # the data really came over HTTP: the parquet file through the hub's LFS redirect
    paths = [q.path for q in hub.requests]
    assert any(p.endswith("/conversations.jsonl") for p in paths)
    assert any(p.startswith("/_cdn/") and "train-00000-of-00001.parquet" in p for p in paths)


def test_gated_dataset_needs_the_stored_token(ffui, home, hub, tmp_path):
    hub.add_dataset("org/gated-chat", chat_repo(tmp_path / "gated"), gated=True)
    outputs = []

    r = ffui("data", "import", "org/gated-chat", "--name", "chat", home=home, env=hub.env)
    outputs.append(r)
    line = one_error_line(r, "org/gated-chat", "ffui settings set huggingface.token")
    assert "access denied" in line and "token" in line
    assert not [q for q in hub.requests if q.auth], "no token was set, none may be sent"

    r = ffui("settings", "set", "huggingface.token", home=home, input=TOKEN + "\n", env=hub.env)
    outputs.append(r)
    assert r.returncode == 0, r.stderr

    r = ffui("data", "import", "org/gated-chat", "--name", "chat", home=home, env=hub.env)
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    assert "imported 6 rows into chat" in r.stdout
    outputs.append(ffui("data", "list", home=home, env=hub.env))
    assert exported(ffui, home, "chat", tmp_path / "out.jsonl", hub.env) == CONVERSATIONS

    hub_calls = [q for q in hub.requests if not q.path.startswith("/_cdn/")
                 and "gated-chat" in q.path and q.auth is not None]
    assert hub_calls and all(q.auth == f"Bearer {TOKEN}" for q in hub_calls)
    assert any("/resolve/" in q.path and q.path.endswith("conversations.jsonl") for q in hub_calls)
    assert all(TOKEN not in q.path for q in hub.requests), "the token must never be in a URL"
    for r in outputs:
        assert TOKEN not in r.stdout and TOKEN not in r.stderr
    with sqlite3.connect(home / "ffui.db") as con:
        logs = con.execute("SELECT * FROM app_logs").fetchall()
    assert TOKEN not in json.dumps(logs, default=str)


def test_missing_hub_dataset_is_one_clear_line(ffui, home, hub):
    r = ffui("data", "import", "org/no-such-dataset", "--name", "x", home=home, env=hub.env)
    line = one_error_line(r, "org/no-such-dataset")
    assert "no such dataset on the hub" in line
    assert [q for q in hub.requests if "org/no-such-dataset" in q.path], "the hub was asked"


def test_a_wrong_token_is_reported_as_such(ffui, home, hub, tmp_path):
    hub.add_dataset("org/gated-chat", chat_repo(tmp_path / "gated"), gated=True)
    r = ffui("settings", "set", "huggingface.token", home=home, input="hf_wrong\n", env=hub.env)
    assert r.returncode == 0, r.stderr
    r = ffui("data", "import", "org/gated-chat", "--name", "chat", home=home, env=hub.env)
    line = one_error_line(r, "org/gated-chat", "ffui settings set huggingface.token")
    assert "token is invalid" in line
    assert "hf_wrong" not in r.stderr + r.stdout


def test_a_token_not_granted_access_is_told_to_ask_for_it(ffui, home, hub, tmp_path):
    """A valid token whose user has not been granted the gated repo: the hub answers 403, and the
    user needs to ask for access (or use another token), not to set a token."""
    hub.add_dataset("org/gated-chat", chat_repo(tmp_path / "gated"), gated=True)
    r = ffui("settings", "set", "huggingface.token", home=home, input=hub.ungranted_token + "\n", env=hub.env)
    assert r.returncode == 0, r.stderr
    r = ffui("data", "import", "org/gated-chat", "--name", "chat", home=home, env=hub.env)
    line = one_error_line(r, "org/gated-chat", "has not been granted access", "ask for access on",
                          f"{hub.url}/datasets/org/gated-chat")
    assert hub.ungranted_token not in r.stderr + r.stdout
    assert [q for q in hub.requests if q.auth == f"Bearer {hub.ungranted_token}"], "the stored token was sent"
    assert "set your token" not in line  # it is set: asking for access is what helps
    assert ffui("data", "list", home=home, env=hub.env).stdout.startswith("no datasets yet"), "nothing imported"


# -- training a hub model -------------------------------------------------------------------------


@pytest.fixture
def chat_dataset(ffui, home, tmp_path):
    """The chat conversations as dataset "chat" (from a local file: hub datasets are tested above)."""
    path = chat_repo(tmp_path / "local-chat") / "conversations.jsonl"
    r = ffui("data", "import", path, "--name", "chat", home=home)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def kill_runs(home):
    """Kill whatever a test's runs left behind (supervisor and trainer)."""
    yield
    procs_support.kill_runs(home)


def test_train_a_gated_hub_model(ffui, home, hub, tiny_model, chat_dataset, kill_runs):
    hub.add_model("org/tiny", tiny_model, gated=True)
    r = ffui("settings", "set", "huggingface.token", home=home, input=TOKEN + "\n", env=hub.env)
    assert r.returncode == 0, r.stderr

    r = ffui("train", "--dataset", "chat", "--model", "org/tiny", "--set", "max_steps=3",
             "--set", "num_gpu=0", "--set", "max_seq_len=64", "--wait", home=home, env=hub.env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    show = ffui("runs", "show", "1", "--json", home=home, env=hub.env)
    run = json.loads(show.stdout)
    assert run["status"] == "completed" and run["backend"] == "cpu" and run["base_model"] == "org/tiny"

    # the trainer fetched the model from the hub, with the stored token (as HF_TOKEN) in a header
    model_calls = [q for q in hub.requests if "org/tiny" in q.path]
    assert any(q.path.endswith("/config.json") for q in model_calls)
    assert any(q.path.startswith("/_cdn/") and "model.safetensors" in q.path for q in hub.requests)
    assert model_calls and all(q.auth == f"Bearer {TOKEN}" for q in model_calls)
    assert not [q for q in hub.requests if q.path.startswith("/_cdn/") and q.auth], \
        "the token must not follow a redirect off the hub"
    assert all(TOKEN not in q.path for q in hub.requests)
    logs = ffui("runs", "logs", "1", "--tail", "10000", home=home, env=hub.env)
    assert TOKEN not in r.stdout + r.stderr + show.stdout + logs.stdout
    with sqlite3.connect(home / "ffui.db") as con:
        assert TOKEN not in json.dumps(con.execute("SELECT * FROM app_logs").fetchall(), default=str)


def test_gated_hub_model_with_a_token_not_granted_access_says_to_ask_for_it(ffui, home, hub, tiny_model,
                                                                            chat_dataset, kill_runs):
    hub.add_model("org/tiny", tiny_model, gated=True)
    r = ffui("settings", "set", "huggingface.token", home=home, input=hub.ungranted_token + "\n", env=hub.env)
    assert r.returncode == 0, r.stderr
    r = ffui("train", "--dataset", "chat", "--model", "org/tiny", "--set", "max_steps=3",
             "--set", "num_gpu=0", "--wait", home=home, env=hub.env, timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stdout + r.stderr
    run = json.loads(ffui("runs", "show", "1", "--json", home=home, env=hub.env).stdout)
    reason = run["error_message"]
    assert run["status"] == "failed" and "\n" not in reason, reason
    assert "has not been granted access" in reason and f"ask for access on {hub.url}/org/tiny" in reason, reason
    assert hub.ungranted_token not in r.stdout + r.stderr + json.dumps(run)


def test_gated_hub_model_without_a_token_fails_with_a_clear_reason(ffui, home, hub, tiny_model, chat_dataset,
                                                                 kill_runs):
    hub.add_model("org/tiny", tiny_model, gated=True)
    r = ffui("train", "--dataset", "chat", "--model", "org/tiny", "--set", "max_steps=3",
             "--set", "num_gpu=0", "--wait", home=home, env=hub.env, timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stdout + r.stderr
    run = json.loads(ffui("runs", "show", "1", "--json", home=home, env=hub.env).stdout)
    assert run["status"] == "failed"
    reason = run["error_message"]
    assert "\n" not in reason and "org/tiny" in reason and "gated" in reason, reason
    assert "ffui settings set huggingface.token" in reason, reason
    assert f"reason: {reason}" in r.stdout
