"""Train mode (3) through the real app: every TrainConfig field has an input, presets (and the
automatic one from GPU memory), inline validation beside the field, saved configs, the model,
dataset and prompt pickers with a live sample, the memory estimate against the GPUs, the Runs
screen's duplicate, and Launch starting a real run on the tiny model and opening it."""

import dataclasses
import json
from pathlib import Path


import test_inference as shared
from procs_support import kill_runs
from ffui import db as fdb

SIZE = (80, 24)
GiB = 1024 ** 3

from screens.train_form import TrainScreen  # noqa: E402
from tui_support import app_for, notifications as notices, screen_text, seed_fixed_home, settle, wait_for  # noqa: E402


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def make_home(home: Path, model: Path | None = None) -> None:
    from ffui.data import store

    shared.write_facts(home / "facts.jsonl", 16)
    with open(home / "qa.jsonl", "w") as fh:
        for i in range(5):
            fh.write(json.dumps({"question": f"q{i}", "answer": f"a{i}"}) + "\n")
    async with fdb.connect(home / "ffui.db", home) as db:
        await store.import_dataset(db, str(home / "qa.jsonl"), name="qa")
        await store.import_dataset(db, str(home / "facts.jsonl"), name="facts")
        await store.add_prompt(db, "qa-prompt", "qa", input_template="Q: {question}\nA: ",
                               completion_template="{answer}")
        if model is not None:
            await fdb.create_model(db, type="local", name="tiny", location=str(model))


async def open_form(pilot):
    await pilot.press("3")
    await settle(pilot, 4)
    return pilot.app.screen


async def test_every_trainconfig_field_has_an_input_with_its_help(home):
    from ffui.train.config import TrainConfig, field_help

    await make_home(home)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        have = {w.id[3:] for w in form.query("*") if (w.id or "").startswith("hp-")}
        assert have == names - {"base_model", "prompt_template"}
        assert form.query_one("#tr-model") and form.query_one("#tr-prompt")  # the other two have pickers
        for name, (default, help_text) in field_help().items():
            if name in have:
                assert form.query_one(f"#hp-{name}").tooltip == help_text
        # common ones are visible; the rest sit under "advanced"
        adv = form.query_one("#tr-advanced")
        assert list(adv.query("#hp-seed")) and not list(adv.query("#hp-lora_r"))
        assert form.has_unsaved_changes() is False


async def test_inline_validation_says_why_beside_the_field_and_blocks_launch(home):
    await make_home(home)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        form.query_one("#tr-model").value = str(home / "no-such-model")
        form.query_one("#hp-lora_r").value = "0"
        form.query_one("#hp-learning_rate").value = "fast"
        form.query_one("#hp-warmup_steps").value = "10"
        form.query_one("#hp-warmup_ratio").value = "0.1"
        await settle(pilot)
        assert "lora_r must be >= 1, got 0" in text_of(form, "#why-lora_r")
        assert "learning_rate must be a number" in text_of(form, "#why-learning_rate")
        assert "not both" in text_of(form, "#why-warmup_steps") and "not both" in text_of(form, "#why-warmup_ratio")
        assert "does not exist" in text_of(form, "#tr-model-why")
        assert "problems:" in text_of(form, "#tr-problems")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any(n.startswith("fix ") and "problems first" in n for n in notices(app)),
                       what=lambda: f"the 'fix problems first' notice; notices: {notices(app)}")
        async with fdb.connect(home / "ffui.db", home) as db:
            assert await fdb.list_training_runs(db) == []
        assert form.has_unsaved_changes()
        form.query_one("#hp-lora_r").value = "8"
        await settle(pilot)
        assert "LoRA rank" in text_of(form, "#why-lora_r")


async def test_presets_fill_the_form_and_auto_follows_the_gpu(home):
    from textual.widgets import Select

    await make_home(home)
    app = app_for(home, gpus=[("A10G", 16 * 1024)])
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        form.query_one("#tr-preset", Select).value = "quick"
        await settle(pilot)
        assert form.query_one("#hp-max_steps").value == "30" and form.query_one("#hp-lora_r").value == "8"
        assert "quick test" in text_of(form, "#tr-preset-about")
        form.query_one("#tr-preset", Select).value = "quality"
        await settle(pilot)
        assert form.query_one("#hp-lora_r").value == "64" and form.query_one("#hp-use_rslora").value is True
        assert form.query_one("#hp-max_steps").value == "-1"
        form.query_one("#tr-preset", Select).value = "auto"
        await settle(pilot)
        assert form.query_one("#hp-method").value == "qlora"  # 16 GiB: balanced with qlora
        assert "16 GiB GPU" in text_of(form, "#tr-preset-about")


async def test_the_memory_estimate_follows_the_settings_and_the_gpus(home, tmp_path):
    await make_home(home)
    big = tmp_path / "llama7b"
    big.mkdir()
    (big / "config.json").write_text(json.dumps({
        "hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000, "intermediate_size": 11008,
        "num_attention_heads": 32, "num_key_value_heads": 32}))
    app = app_for(home, gpus=[("L4", 24 * 1024)])
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        assert "pick a model first" in text_of(form, "#tr-estimate")
        form.query_one("#tr-model").value = str(big)
        form.query_one("#hp-precision").value = "bf16"
        form.query_one("#hp-per_device_train_batch_size").value = "1"
        form.query_one("#hp-max_seq_len").value = "512"
        await settle(pilot)
        assert "GiB peak GPU memory (estimate" in text_of(form, "#tr-estimate")
        assert form.verdict == "fits" and "fits on L4 (24.0 GiB)" in text_of(form, "#tr-fit")
        form.query_one("#hp-method").value = "full"
        await settle(pilot)
        assert form.verdict == "too-big" and "does not fit on L4" in text_of(form, "#tr-fit")
        small = float(text_of(form, "#tr-estimate").split("~")[1].split()[0])
        form.query_one("#hp-per_device_train_batch_size").value = "16"
        await settle(pilot)
        assert float(text_of(form, "#tr-estimate").split("~")[1].split()[0]) > small


async def test_no_gpu_says_so_and_a_hub_id_is_guessed_from_its_name(home):
    await make_home(home)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        form.query_one("#tr-model").value = "Qwen/Qwen2.5-0.5B-Instruct"
        await settle(pilot)
        assert "no GPU: training runs on the CPU" in text_of(form, "#tr-fit")
        assert "guessed from its name" in text_of(form, "#tr-estimate")
        assert "must be downloaded already" in text_of(form, "#tr-model-why")


async def test_saved_configs_save_save_as_and_load(home):
    from screens.widgets.modals import ConfirmModal

    await make_home(home)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        form.query_one("#tr-model").value = "/models/x"
        form.query_one("#hp-learning_rate").value = "1e-4"
        await settle(pilot)
        assert form.has_unsaved_changes()
        await pilot.press("ctrl+s")  # no name yet: asks for one
        await settle(pilot)
        app.screen.query_one("#f-name").value = "slow-lr"
        await pilot.press("enter")
        await settle(pilot)
        assert not form.has_unsaved_changes() and "slow-lr" in text_of(form, "#tr-config")
        async with fdb.connect(home / "ffui.db", home) as db:
            saved = (await fdb.get_training_config(db, "slow-lr"))["config"]["hp"]
        assert saved["learning_rate"] == 1e-4 and saved["base_model"] == "/models/x"
        assert set(saved) >= {"lora_r", "seed", "early_stopping_patience", "target_modules"}
        form.query_one("#hp-seed").value = "7"
        await settle(pilot)
        await pilot.press("ctrl+s")  # saves under the same name
        await settle(pilot)
        form.query_one("#hp-seed").value = "9"
        await pilot.press("ctrl+a")
        await settle(pilot)
        app.screen.query_one("#f-name").value = "seed9"
        await pilot.press("ctrl+s")
        await settle(pilot)
        form.query_one("#hp-seed").value = "1"
        form.query_one("#hp-learning_rate").value = "3e-3"
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        await pilot.press("down", "enter")  # configs by name: seed9, slow-lr
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        assert "unsaved changes" in screen_text(app)  # the edits above are not saved: it asks first
        await pilot.press("n")
        await settle(pilot)
        assert form.query_one("#hp-seed").value == "1" and form.config_name == "seed9"
        await pilot.press("ctrl+o")
        await settle(pilot)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question again")
        await pilot.press("y")
        await settle(pilot)
        assert form.query_one("#hp-seed").value == "7" and form.query_one("#hp-learning_rate").value == "0.0001"
        assert form.config_name == "slow-lr" and not form.has_unsaved_changes()


async def test_the_prompt_picker_shows_a_live_rendered_sample(home):
    from textual.widgets import Select

    await make_home(home)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        ds = {d["name"]: d["id"] for d in form.datasets}
        form.query_one("#tr-dataset", Select).value = ds["qa"]
        await settle(pilot)
        assert "input: q0 → output: a0" in text_of(form, "#tr-sample")
        form.query_one("#tr-prompt", Select).value = "qa-prompt"
        await settle(pilot)
        assert "sample: Q: q0" in text_of(form, "#tr-sample") and "a0" in text_of(form, "#tr-sample")
        form.query_one("#tr-dataset", Select).value = ds["facts"]  # has no {question}: said in place
        await settle(pilot)
        assert "template problem" in text_of(form, "#tr-sample") and "question" in text_of(form, "#tr-sample")


async def test_duplicate_config_from_a_run_fills_the_form(home):
    await make_home(home)
    hp = {"base_model": "/models/base", "lora_r": 4, "learning_rate": 5e-5, "target_modules": ["q_proj", "v_proj"],
          "early_stopping_patience": 2, "eval_steps": 10, "save_steps": 20, "method": "full",
          "prompt_template": {"prompt_template": "{input}{output}", "input_template": "{input}",
                              "completion_template": "{output}"}}
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        assert await app.show_train_config(hp)  # what the Runs screen's d does
        # the form is built (1-2 s on a busy machine) and then filled: wait for that, not a fixed time
        form = await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and
                              app.screen.query_one("#tr-model").value == "/models/base" and app.screen,
                              timeout=60, what="the form filled from the run's config")
        await settle(pilot)
        assert form.query_one("#hp-lora_r").value == "4" and form.query_one("#hp-method").value == "full"
        assert form.query_one("#hp-target_modules").value == "q_proj, v_proj"
        assert form.query_one("#hp-early_stopping_patience").value == "2"
        assert form.query_one("#tr-prompt").value == "__custom__"
        assert not form.has_unsaved_changes()
        cfg = form.full_config()
        assert cfg["target_modules"] == ["q_proj", "v_proj"] and cfg["prompt_template"] == hp["prompt_template"]


async def test_a_config_handed_over_before_the_database_opens_still_fills_the_form(home, monkeypatch):
    """CI once ran the duplicate before the app's database was open: the form's pickers failed
    to load and the config it was holding was never put in. Now the form waits for the database."""
    import asyncio

    await make_home(home)
    real_open = fdb.open_db

    async def slow_open(*args, **kwargs):  # a loaded machine: the database opens a second late
        await asyncio.sleep(1.0)
        return await real_open(*args, **kwargs)

    monkeypatch.setattr(fdb, "open_db", slow_open)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        assert app.db is None
        assert await app.show_train_config({"base_model": "/models/base", "lora_r": 4})
        form = await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen) and
                              app.screen.query_one("#tr-model").value == "/models/base" and app.screen,
                              timeout=30, what="the form filled once the database opened")
        await settle(pilot)
        assert form.query_one("#hp-lora_r").value == "4" and not form.has_unsaved_changes()
        assert form.query_one("#tr-dataset").value is not None  # the pickers loaded too
        assert not notices(app, severity="error")


async def test_launch_starts_a_real_run_and_opens_it(home, tiny_model):
    from textual.widgets import Select

    from screens.run_detail import RunDetailScreen

    await make_home(home, model=tiny_model)
    app = app_for(home)
    try:
        async with app.run_test(size=SIZE) as pilot:
            form = await open_form(pilot)
            form.query_one("#tr-preset", Select).value = "quick"
            await settle(pilot)
            await pilot.press("ctrl+l")  # the model picker lists the registered model
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            assert form.query_one("#tr-model").value == str(tiny_model)
            assert "registered" in text_of(form, "#tr-model-why")
            form.query_one("#tr-dataset", Select).value = next(d["id"] for d in form.datasets if d["name"] == "facts")
            form.query_one("#hp-max_steps").value = "2"
            form.query_one("#hp-num_gpu").value = "0"
            form.query_one("#tr-name").value = "from-the-form"
            await settle(pilot)
            assert "ready" in text_of(form, "#tr-problems")
            await pilot.press("ctrl+r")
            await settle(pilot, 5)
            assert isinstance(app.screen, RunDetailScreen)
            async with fdb.connect(home / "ffui.db", home) as db:
                runs = await fdb.list_training_runs(db)
            assert len(runs) == 1 and runs[0]["name"] == "from-the-form" and app.screen.run_id == runs[0]["id"]
            assert runs[0]["hp"]["max_steps"] == 2 and runs[0]["hp"]["base_model"] == str(tiny_model)
            assert runs[0]["status"] in ("running", "pending", "completed")
            assert not form.has_unsaved_changes()
    finally:
        kill_runs(home)


async def test_copying_a_run_asks_before_replacing_edits_and_makes_a_new_unsaved_config(tmp_path):
    """d on the Runs screen over a form with unsaved edits asks first; the copy is a new,
    unnamed, unsaved config: q asks before quitting and ctrl+s asks for a name instead of
    overwriting the saved config that was loaded before."""
    from screens.widgets.modals import ConfirmModal

    home = seed_fixed_home(tmp_path / "home")
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        form.query_one("#hp-lora_r").value = "64"
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        app.screen.query_one("#f-name").value = "mine"
        await pilot.press("enter")
        await settle(pilot)
        assert form.config_name == "mine" and not form.has_unsaved_changes()
        form.query_one("#hp-seed").value = "7"  # an edit not saved yet
        await settle(pilot)
        await app.action_mode("runs")
        await wait_for(pilot, lambda: app.screen.row_ids, what="the runs table")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        assert "unsaved changes" in screen_text(app)
        await pilot.press("n")  # keep my edits
        await wait_for(pilot, lambda: "keeps its unsaved changes" in " ".join(notices(app)), what="the answer")
        assert app.current_mode == "runs" and form.query_one("#hp-seed").value == "7"
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question again")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.current_mode == "train" and form.query_one("#hp-lora_r").value == "16",
                       what="the run's config in the form")
        await settle(pilot)
        assert form.config_name is None and form.has_unsaved_changes()
        assert "copy of run 5 *" in text_of(form, "#tr-config")
        form.set_focus(None)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the quit question")
        assert "Unsaved changes in Train" in screen_text(app)
        await pilot.press("n")
        await pilot.press("ctrl+s")  # a new config: asks for its name
        await wait_for(pilot, lambda: app.screen.query("#f-name"), what="the name dialog")
        assert app.screen.query_one("#f-name").value == ""
    async with fdb.connect(home / "ffui.db", home) as db:
        assert (await fdb.get_training_config(db, "mine"))["config"]["hp"]["lora_r"] == 64


async def test_a_form_that_says_two_problems_shows_both(home):
    await make_home(home)
    app = app_for(home)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        form.query_one("#tr-model").value = "/models/x"
        form.query_one("#hp-lora_r").value = "0"
        form.query_one("#hp-learning_rate").value = "fast"
        await settle(pilot)
        form.set_focus(None)
        await settle(pilot)
        shown = screen_text(app)
        assert "3 problems:" in shown, shown  # the model (there is none at /models/x) and these two
        listed = shown.split("3 problems:")[1]
        assert "lora_r must be >= 1" in listed and "learning_rate must be a number" in listed, shown
