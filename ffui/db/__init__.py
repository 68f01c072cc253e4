"""ffui's data layer: one SQLite file, async (aiosqlite), one module per concern.

    async with connect(path) as db:
        await set_setting(db, "huggingface.token", token)
        run = await create_training_run(db, "my_finetune", base_model=..., dataset_source="database", dataset_id="1")

Every function takes the open ``Database`` first. Code that is not async uses
``open_sync`` (a plain sqlite3 connection with the same pragmas) or ``DbLogHandler``.
"""

from ffui.db.catalog import (
    CatalogError,
    create_adapter,
    create_config,
    create_dataset,
    create_evaluation_job,
    create_model,
    create_prompt,
    delete_adapter,
    delete_config,
    delete_dataset,
    delete_evaluation_job,
    delete_model,
    delete_prompt,
    find_model,
    get_adapter,
    get_config,
    get_dataset,
    get_evaluation_job,
    get_model,
    get_prompt,
    list_adapters,
    list_chat_choices,
    list_configs,
    list_datasets,
    list_evaluation_jobs,
    list_models,
    list_prompts,
    list_recent_models,
    update_adapter,
    update_config,
    update_dataset,
    update_evaluation_job,
    update_model,
    update_prompt,
)
from ffui.db.core import (SCHEMA_VERSION, Database, DatabaseError, connect, describe_sqlite_error, init_db,
                          open_db, open_sync)
from ffui.db.counts import last_check, schema_version, table_counts
from ffui.db.evaluations import (adapter_named, create_evaluation, evaluation_for_run, evaluation_models,
                                  get_evaluation, latest_adapter_run, list_evaluations, record_evaluation_results)
from ffui.db.export import ImportReport, export_database, export_to_json, import_database, import_from_json
from ffui.db.logs import DbLogHandler, add_log_lines, clear_logs, get_log_count, get_logs
from ffui.db.dataset_fill import (
    NameTaken,
    bulk_cache,
    create_filling_session,
    drop_abandoned_sessions,
    drop_filling_session,
    fill_scraped_pairs,
    filling_owner,
    finish_filling_session,
    stored_pair,
)
from ffui.db.maintenance import PAGES_PER_STEP, backup_database, check_database
from ffui.db.scraped_data import (
    PAIR_COLUMNS,
    SHOWN_SQL,
    add_scraped_pairs,
    count_pairs,
    create_scrape_session,
    delete_scrape_session,
    get_pair_ids,
    get_pairs_for_session,
    get_scrape_session,
    get_scrape_session_by_name,
    get_scrape_session_by_registry_id,
    iter_pairs,
    iter_pairs_by_id,
    iter_stored_pairs,
    json_text,
    list_scrape_sessions,
    session_metadata,
    set_scrape_session_registry_id,
    update_scrape_session,
)
from ffui.db.secrets import is_secret_key, mask_secret, redact, register_secret
from ffui.db.settings import (
    delete_setting,
    get_setting,
    get_state,
    list_settings,
    set_setting,
    set_state,
)
from ffui.db.training_configs import (
    config_settings,
    delete_training_config,
    get_training_config,
    list_training_configs,
    save_training_config,
)
from ffui.db.training_runs import (
    FINAL_STATUSES,
    STATUSES,
    create_training_run,
    delete_training_run,
    get_managed_storage_root,
    get_run_status,
    get_training_run,
    get_training_run_by_uuid,
    list_recent_runs,
    list_run_summaries,
    list_training_runs,
    loss_histories,
    recent_base_models,
    run_change_probe,
    update_training_run,
)

__all__ = [name for name in dir() if not name.startswith("_")]
