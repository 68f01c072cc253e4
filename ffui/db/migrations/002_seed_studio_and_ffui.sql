-- Version 2: the seed-000 studio's tables (verbatim; String -> TEXT, Integer -> INTEGER,
-- Double -> REAL), fine_tuning_jobs folded into training_runs, and ffui's own columns.
-- docs/schema.md maps every seed column to its home here.
CREATE TABLE IF NOT EXISTS models (
id TEXT PRIMARY KEY NOT NULL,
type TEXT,
framework TEXT,
name TEXT,
description TEXT,
huggingface_model_name TEXT,
location TEXT,
cml_registered_model_id TEXT,
mlflow_experiment_id TEXT,
mlflow_run_id TEXT
);
CREATE TABLE IF NOT EXISTS datasets (
id TEXT PRIMARY KEY NOT NULL,
type TEXT,
name TEXT,
description TEXT,
huggingface_name TEXT,
location TEXT,
features TEXT
);
CREATE TABLE IF NOT EXISTS prompts (
id TEXT PRIMARY KEY NOT NULL,
type TEXT,
name TEXT,
description TEXT,
dataset_id TEXT REFERENCES datasets(id),
prompt_template TEXT,
input_template TEXT,
completion_template TEXT
);
CREATE TABLE IF NOT EXISTS configs (
id TEXT PRIMARY KEY NOT NULL,
type TEXT,
description TEXT,
config TEXT,
model_family TEXT,
is_default INTEGER
);
-- training_runs.job_uuid is the seed-000 fine_tuning_jobs.id: adapters point at it.
ALTER TABLE training_runs ADD COLUMN job_uuid TEXT;
ALTER TABLE training_runs ADD COLUMN base_model_id TEXT REFERENCES models(id);
ALTER TABLE training_runs ADD COLUMN registry_dataset_id TEXT REFERENCES datasets(id);
ALTER TABLE training_runs ADD COLUMN prompt_id TEXT REFERENCES prompts(id);
ALTER TABLE training_runs ADD COLUMN adapter_id TEXT;
ALTER TABLE training_runs ADD COLUMN num_workers INTEGER;
ALTER TABLE training_runs ADD COLUMN num_cpu INTEGER;
ALTER TABLE training_runs ADD COLUMN num_gpu INTEGER;
ALTER TABLE training_runs ADD COLUMN num_memory INTEGER;
ALTER TABLE training_runs ADD COLUMN cml_job_id TEXT;
ALTER TABLE training_runs ADD COLUMN training_arguments_config_id TEXT REFERENCES configs(id);
ALTER TABLE training_runs ADD COLUMN model_bnb_config_id TEXT REFERENCES configs(id);
ALTER TABLE training_runs ADD COLUMN adapter_bnb_config_id TEXT REFERENCES configs(id);
ALTER TABLE training_runs ADD COLUMN lora_config_id TEXT REFERENCES configs(id);
ALTER TABLE training_runs ADD COLUMN training_arguments_config TEXT;
ALTER TABLE training_runs ADD COLUMN model_bnb_config TEXT;
ALTER TABLE training_runs ADD COLUMN adapter_bnb_config TEXT;
ALTER TABLE training_runs ADD COLUMN lora_config TEXT;
ALTER TABLE training_runs ADD COLUMN user_script TEXT;
ALTER TABLE training_runs ADD COLUMN user_config_id TEXT REFERENCES configs(id);
ALTER TABLE training_runs ADD COLUMN framework_type TEXT;
ALTER TABLE training_runs ADD COLUMN axolotl_config_id TEXT REFERENCES configs(id);
ALTER TABLE training_runs ADD COLUMN gpu_label_id INTEGER;
ALTER TABLE training_runs ADD COLUMN adapter_name TEXT;
-- ffui's job manager
ALTER TABLE training_runs ADD COLUMN backend TEXT;
ALTER TABLE training_runs ADD COLUMN progress REAL DEFAULT 0;
ALTER TABLE training_runs ADD COLUMN current_step INTEGER DEFAULT 0;
ALTER TABLE training_runs ADD COLUMN total_steps INTEGER;
ALTER TABLE training_runs ADD COLUMN last_loss REAL;
ALTER TABLE training_runs ADD COLUMN eta_s REAL;
ALTER TABLE training_runs ADD COLUMN metrics_json TEXT;
ALTER TABLE training_runs ADD COLUMN error_message TEXT;
ALTER TABLE training_runs ADD COLUMN exit_code INTEGER;
ALTER TABLE training_runs ADD COLUMN exit_signal INTEGER;
ALTER TABLE training_runs ADD COLUMN supervisor_pid INTEGER;
ALTER TABLE training_runs ADD COLUMN trainer_pid INTEGER;
ALTER TABLE training_runs ADD COLUMN trainer_pgid INTEGER;
ALTER TABLE training_runs ADD COLUMN log_offset INTEGER DEFAULT 0;
ALTER TABLE training_runs ADD COLUMN events_offset INTEGER DEFAULT 0;
ALTER TABLE training_runs ADD COLUMN resumed_from_run_id INTEGER;
CREATE UNIQUE INDEX IF NOT EXISTS idx_training_runs_job_uuid ON training_runs(job_uuid);
CREATE TABLE IF NOT EXISTS adapters (
id TEXT PRIMARY KEY NOT NULL,
type TEXT,
name TEXT,
description TEXT,
huggingface_name TEXT,
model_id TEXT REFERENCES models(id),
location TEXT,
fine_tuning_job_id TEXT REFERENCES training_runs(job_uuid),
prompt_id TEXT REFERENCES prompts(id),
cml_registered_model_id TEXT,
mlflow_experiment_id TEXT,
mlflow_run_id TEXT
);
CREATE TABLE IF NOT EXISTS evaluation_jobs (
id TEXT PRIMARY KEY NOT NULL,
type TEXT,
cml_job_id TEXT,
parent_job_id TEXT,
base_model_id TEXT REFERENCES models(id),
dataset_id TEXT REFERENCES datasets(id),
prompt_id TEXT REFERENCES prompts(id),
num_workers INTEGER,
adapter_id TEXT REFERENCES adapters(id),
num_cpu INTEGER,
num_gpu INTEGER,
num_memory INTEGER,
evaluation_dir TEXT,
model_bnb_config_id TEXT REFERENCES configs(id),
adapter_bnb_config_id TEXT REFERENCES configs(id),
generation_config_id TEXT REFERENCES configs(id),
model_bnb_config TEXT,
adapter_bnb_config TEXT,
generation_config TEXT
);
ALTER TABLE scrape_sessions ADD COLUMN name TEXT;
ALTER TABLE scrape_sessions ADD COLUMN updated_at TEXT;
ALTER TABLE scraped_pairs ADD COLUMN messages_json TEXT;
ALTER TABLE app_logs ADD COLUMN run_id INTEGER;
ALTER TABLE app_logs ADD COLUMN source TEXT;
ALTER TABLE training_configs ADD COLUMN config_id TEXT REFERENCES configs(id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_scrape_sessions_name ON scrape_sessions(name) WHERE name IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_scraped_pairs_session ON scraped_pairs(session_id, id);
CREATE INDEX IF NOT EXISTS idx_training_runs_status ON training_runs(status, id);
CREATE INDEX IF NOT EXISTS idx_app_logs_run ON app_logs(run_id, id);
CREATE INDEX IF NOT EXISTS idx_app_logs_level ON app_logs(level, id);
CREATE INDEX IF NOT EXISTS idx_app_logs_timestamp ON app_logs(timestamp);
CREATE INDEX IF NOT EXISTS idx_adapters_model ON adapters(model_id);
CREATE INDEX IF NOT EXISTS idx_adapters_job ON adapters(fine_tuning_job_id);
CREATE INDEX IF NOT EXISTS idx_prompts_dataset ON prompts(dataset_id);
