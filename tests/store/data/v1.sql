-- A kernelevolve store at schema version 1 (kernelevolve 0.1.0), dumped with sqlite3's
-- iterdump: run softmax-v1 with nodes 1 <- 2 <- 3 (3 buggy), best 2, cache key key-v1.
-- Kept to prove that every later kernelevolve opens and migrates it. Never edit it.
BEGIN TRANSACTION;
CREATE TABLE claims (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	run_id INTEGER NOT NULL, 
	owner VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	heartbeat_at DATETIME NOT NULL, 
	FOREIGN KEY(run_id) REFERENCES runs (id)
);
CREATE TABLE eval_cache (
	"key" VARCHAR(512) NOT NULL, 
	result JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "eval_cache" VALUES('key-v1','{"status": "ok", "speedup": 1.7}','2026-11-25 20:02:41.506574');
CREATE TABLE id_counters (
	name VARCHAR(64) NOT NULL, 
	next_value BIGINT NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO "id_counters" VALUES('node',4);
CREATE TABLE nodes (
	id INTEGER NOT NULL, 
	run_id INTEGER NOT NULL, 
	parent_id INTEGER, 
	score FLOAT NOT NULL, 
	is_buggy BOOLEAN NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	operator VARCHAR(64) NOT NULL, 
	source_hash VARCHAR(128) NOT NULL, 
	kernel_path TEXT NOT NULL, 
	result_path TEXT NOT NULL, 
	overview_path TEXT NOT NULL, 
	objects JSON NOT NULL, 
	metrics JSON NOT NULL, 
	tags JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(run_id) REFERENCES runs (id), 
	FOREIGN KEY(parent_id) REFERENCES nodes (id)
);
INSERT INTO "nodes" VALUES(1,1,NULL,1.0,0,'ok','seed','58a9cd1723049f842f85d188a463a6358519fc4926e02a73e55e0bc95bdca359','runs/softmax-v1/nodes/1/kernel.py','runs/softmax-v1/nodes/1/result.json','runs/softmax-v1/nodes/1/overview.md','["runs/softmax-v1/nodes/1/prompt.md"]','{"gbps": 10.5}','{"island": 0}','2026-11-25 20:02:41.497761');
INSERT INTO "nodes" VALUES(2,1,1,1.7,0,'ok','llm','507d6564e0b58503702ed28b596cc3cd8b6566bcb75658f633e47aef2f0da824','runs/softmax-v1/nodes/2/kernel.py','runs/softmax-v1/nodes/2/result.json','runs/softmax-v1/nodes/2/overview.md','[]','{}','{}','2026-11-25 20:02:41.501778');
INSERT INTO "nodes" VALUES(3,1,2,0.0,1,'mismatch','llm','eeeb8dffb567a741c90a4a55d1f53bac9a8ec164517acaa47acf2cc228a124f1','runs/softmax-v1/nodes/3/kernel.py','runs/softmax-v1/nodes/3/result.json','runs/softmax-v1/nodes/3/overview.md','[]','{}','{}','2026-11-25 20:02:41.504368');
CREATE TABLE runs (
	id INTEGER NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	problem_path TEXT NOT NULL, 
	problem_hash VARCHAR(128) NOT NULL, 
	platform VARCHAR(64) NOT NULL, 
	config JSON NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
INSERT INTO "runs" VALUES(1,'softmax-v1','problems/softmax.py','aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','interpreter','{"steps": 8, "policy": "greedy"}','done','2026-11-25 20:02:41.496191','2026-11-25 20:02:41.506237');
CREATE TABLE schema_version (
	version INTEGER NOT NULL, 
	applied_at DATETIME NOT NULL, 
	kernelevolve_version VARCHAR(32) NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO "schema_version" VALUES(1,'2026-11-25 20:02:41.492967','0.1.0');
CREATE TABLE store_meta (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "store_meta" VALUES('store_id','5b0676f4860f4580bf3c7b5bcff6e320');
CREATE INDEX ix_runs_problem_hash ON runs (problem_hash);
CREATE INDEX ix_claims_owner ON claims (owner);
CREATE INDEX ix_claims_run_id ON claims (run_id);
CREATE INDEX ix_nodes_run_id ON nodes (run_id);
CREATE INDEX ix_nodes_parent_id ON nodes (parent_id);
CREATE INDEX ix_nodes_run_id_score ON nodes (run_id, score);
CREATE INDEX ix_nodes_source_hash ON nodes (source_hash);
DELETE FROM "sqlite_sequence";
COMMIT;
