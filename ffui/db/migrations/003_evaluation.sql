-- Version 3: evaluation jobs. The job itself (status, supervisor, progress, log offsets) is a
-- training_runs row of metadata.kind "evaluation" (so the scheduler, cancel, reconcile and the
-- Runs screen serve it unchanged); its evaluation_jobs row is the evaluation's own record,
-- linked by job_run_id. Each model compared (the base, each adapter) is a row of
-- evaluation_models with its metrics; the row-by-row predictions are files in the job's
-- directory (predictions.jsonl, predictions.csv), written as they are made.
ALTER TABLE evaluation_jobs ADD COLUMN job_run_id INTEGER REFERENCES training_runs(id) ON DELETE SET NULL;
ALTER TABLE evaluation_jobs ADD COLUMN name TEXT;
ALTER TABLE evaluation_jobs ADD COLUMN dataset_name TEXT;
ALTER TABLE evaluation_jobs ADD COLUMN split TEXT;
ALTER TABLE evaluation_jobs ADD COLUMN row_limit INTEGER;
ALTER TABLE evaluation_jobs ADD COLUMN metrics_requested TEXT;
ALTER TABLE evaluation_jobs ADD COLUMN rows_done INTEGER DEFAULT 0;
ALTER TABLE evaluation_jobs ADD COLUMN created_at TEXT;
CREATE TABLE IF NOT EXISTS evaluation_models (
id INTEGER PRIMARY KEY AUTOINCREMENT,
evaluation_id TEXT NOT NULL REFERENCES evaluation_jobs(id) ON DELETE CASCADE,
position INTEGER NOT NULL,
name TEXT NOT NULL,
adapter_id TEXT REFERENCES adapters(id) ON DELETE SET NULL,
adapter_path TEXT,
source_run_id INTEGER,
metrics_json TEXT,
UNIQUE (evaluation_id, position)
);
CREATE INDEX IF NOT EXISTS idx_evaluation_jobs_run ON evaluation_jobs(job_run_id);
