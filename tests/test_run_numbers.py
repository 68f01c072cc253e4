"""Numbers about a run that mean something: a trend that shows the trend, a steady tokens/s,
one way of writing an ETA, and no ETA for a run that has ended (CLI through the real `ffui`)."""

from __future__ import annotations

import json
import random
import re
import sqlite3
from types import SimpleNamespace

import pytest

from tui_support import seed_fixed_home


def test_the_trend_of_a_noisy_falling_loss_falls():
    from screens.widgets.format import sparkline

    rng = random.Random(1)
    # 7.7 -> 3.4 over 40 steps, with step-to-step noise as large as a real run's
    loss = [7.7 - 4.3 * i / 39 + rng.uniform(-0.9, 0.9) for i in range(40)]
    trend = sparkline(loss, 8)
    assert len(trend) == 8
    assert list(trend) == sorted(trend, reverse=True), f"{trend} does not read as falling"
    assert trend[0] == "█" and trend[-1] == "▁"
    assert sparkline([2.0, 1.0], 8) == "█▁", "fewer points than cells: one cell each"


def _callback_with_clock(monkeypatch):
    pytest.importorskip("transformers")
    from ffui.train import callback as cb

    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(cb.time, "perf_counter", lambda: clock.now)
    emitted = []
    events = SimpleNamespace(emit=lambda kind, **f: emitted.append((kind, f)), warning=lambda m: None,
                             say=lambda line: print(line, flush=True))  # the main rank prints its lines
    ctl = SimpleNamespace(poll=lambda: None, stop_requested=False, checkpoint_requested=False)
    callback = cb.EventCallback(events, ctl, {"backend": "cpu", "device": "cpu"}, stop_on_nan=False)
    return callback, clock, emitted


def test_tokens_per_second_is_averaged_over_recent_steps_not_one_step(monkeypatch, capsys):
    callback, clock, emitted = _callback_with_clock(monkeypatch)
    args = SimpleNamespace(world_size=1, train_batch_size=4, gradient_accumulation_steps=1, device="cpu")
    state = SimpleNamespace(global_step=0, max_steps=60, epoch=0.0, num_input_tokens_seen=0, log_history=[])
    callback.on_train_begin(args, state, None)
    for step in range(1, 61):
        # batches alternate short and long, and their steps fast and slow: one step's rate
        # swings between ~400 and ~17,000 tokens/s, as on the run in the issue
        tokens, seconds = (40, 0.1) if step % 2 else (1700, 0.1)
        callback.on_step_begin(args, state, None)
        clock.now += seconds
        state.global_step, state.num_input_tokens_seen = step, state.num_input_tokens_seen + tokens
        callback.on_step_end(args, state, SimpleNamespace(should_save=False, should_training_stop=False))
        callback.on_log(args, state, None, logs={"loss": 2.0, "learning_rate": 1e-4})
    rates = [f["tokens_per_s"] for kind, f in emitted if kind == "step"][5:]
    assert min(rates) > 0.8 * 8700 and max(rates) < 1.2 * 8700, rates  # (40 + 1700) / 0.2 s
    assert "eta 0:00" in capsys.readouterr().out.splitlines()[-1], "train.log writes the ETA as the UI does"


def _failed_run_with_a_stale_eta(tmp_path):
    home = seed_fixed_home(tmp_path / "home", fresh=True)  # (so `ffui` leaves the running run alone)
    conn = sqlite3.connect(home / "ffui.db")
    conn.execute("UPDATE training_runs SET eta_s = 95.0 WHERE id IN (2, 3, 1)")  # 3 failed, 1 completed
    conn.commit()
    conn.close()
    return home


def test_ended_runs_show_no_eta_in_the_cli(ffui, tmp_path):
    home = _failed_run_with_a_stale_eta(tmp_path)
    show = ffui("runs", "show", "3", home=home)
    assert show.returncode == 0, show.stderr
    assert not re.search(r"\beta\b", show.stdout.lower()), show.stdout
    listing = ffui("runs", "list", home=home)
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert "1:35" in rows["2"], "the running run has its ETA"
    assert "1:35" not in rows["3"] and "1:35" not in rows["1"], listing.stdout
    as_json = {r["id"]: r for r in json.loads(ffui("runs", "list", "--json", home=home).stdout)}
    assert as_json[2]["eta_s"] == 95.0 and as_json[3]["eta_s"] is None and as_json[1]["eta_s"] is None
