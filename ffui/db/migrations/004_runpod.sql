-- Runs on RunPod pods (ffui/jobs/executors/runpod.py): which pod, on which GPU, at what price,
-- what it has cost so far and the stage it is in, each shown by the Runs screen and
-- `ffui runs show`. pod_agent_token authenticates the supervisor to the pod's agent: it lives
-- only here and in the pod's environment (never in logs or exports).
ALTER TABLE training_runs ADD COLUMN pod_id TEXT;
ALTER TABLE training_runs ADD COLUMN pod_gpu TEXT;
ALTER TABLE training_runs ADD COLUMN pod_cost_per_hr REAL;
ALTER TABLE training_runs ADD COLUMN pod_cost REAL;
ALTER TABLE training_runs ADD COLUMN pod_stage TEXT;
ALTER TABLE training_runs ADD COLUMN pod_url TEXT;
ALTER TABLE training_runs ADD COLUMN pod_agent_token TEXT;
CREATE INDEX IF NOT EXISTS idx_training_runs_pod ON training_runs(pod_id) WHERE pod_id IS NOT NULL;
