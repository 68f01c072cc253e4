-- Version 1: the predecessor studio's schema (seed 001), verbatim.
-- A database made by that studio is at this version already; IF NOT EXISTS lets it pass.
CREATE TABLE IF NOT EXISTS settings (
key TEXT PRIMARY KEY,
value TEXT NOT NULL,
updated_at TEXT DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS training_configs (
id INTEGER PRIMARY KEY AUTOINCREMENT,
name TEXT UNIQUE NOT NULL,
config_json TEXT NOT NULL,
train_target TEXT,
created_at TEXT DEFAULT (datetime('now')),
updated_at TEXT DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS scrape_sessions (
id INTEGER PRIMARY KEY AUTOINCREMENT,
source TEXT NOT NULL,
source_details TEXT,
dataset_format TEXT DEFAULT 'standard',
pair_count INTEGER DEFAULT 0,
created_at TEXT DEFAULT (datetime('now')),
metadata_json TEXT
);
CREATE TABLE IF NOT EXISTS scraped_pairs (
id INTEGER PRIMARY KEY AUTOINCREMENT,
session_id INTEGER NOT NULL,
input_text TEXT NOT NULL,
output_text TEXT NOT NULL,
source_url TEXT,
metadata_json TEXT,
created_at TEXT DEFAULT (datetime('now')),
FOREIGN KEY (session_id) REFERENCES scrape_sessions(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS training_runs (
id INTEGER PRIMARY KEY AUTOINCREMENT,
name TEXT NOT NULL,
status TEXT DEFAULT 'pending',
base_model TEXT,
dataset_source TEXT,
dataset_id TEXT,
storage_path TEXT,
output_dir TEXT,
adapter_path TEXT,
checkpoint_path TEXT,
hp_json TEXT,
logs_json TEXT,
started_at TEXT,
completed_at TEXT,
created_at TEXT DEFAULT (datetime('now')),
updated_at TEXT DEFAULT (datetime('now')),
metadata_json TEXT
);
CREATE TABLE IF NOT EXISTS app_logs (
id INTEGER PRIMARY KEY AUTOINCREMENT,
timestamp TEXT DEFAULT (datetime('now')),
level TEXT NOT NULL,
logger TEXT,
message TEXT NOT NULL,
module TEXT,
func_name TEXT,
line_no INTEGER,
exc_info TEXT
);
CREATE TABLE IF NOT EXISTS app_state (
key TEXT PRIMARY KEY,
value TEXT
);
