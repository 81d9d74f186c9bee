-- Candor database schema. Generated from server/tables.py by
-- `python run.py schema`; tests/test_schema.py keeps the two equal.

CREATE TABLE audit_anchors (
	id INTEGER NOT NULL,
	up_to_seq INTEGER NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	rows_removed INTEGER NOT NULL,
	cutoff DATETIME NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE audit_chain_head (
	id INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE audit_log (
	id INTEGER NOT NULL,
	ts DATETIME NOT NULL,
	actor_kind VARCHAR(16) NOT NULL,
	actor_id INTEGER,
	action VARCHAR(64) NOT NULL,
	target_kind VARCHAR(32) NOT NULL,
	target_id INTEGER,
	detail JSON NOT NULL,
	seq INTEGER NOT NULL,
	prev_sha256 VARCHAR(64) NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_audit_log_seq ON audit_log (seq);

CREATE INDEX ix_audit_log_ts ON audit_log (ts);

CREATE TABLE deletion_certificates (
	id INTEGER NOT NULL,
	candidate_id INTEGER NOT NULL,
	candidate_ref VARCHAR(64) NOT NULL,
	ref_salt VARCHAR(32) NOT NULL,
	scope VARCHAR(16) NOT NULL,
	interview_ids JSON NOT NULL,
	reason VARCHAR(16) NOT NULL,
	erased_at DATETIME NOT NULL,
	erased_by_kind VARCHAR(16) NOT NULL,
	erased_by INTEGER,
	counts JSON NOT NULL,
	digest VARCHAR(64) NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_deletion_certificates_candidate_id ON deletion_certificates (candidate_id);

CREATE INDEX ix_deletion_certificates_candidate_ref ON deletion_certificates (candidate_ref);

CREATE INDEX ix_deletion_certificates_erased_at ON deletion_certificates (erased_at);

CREATE TABLE users (
	id INTEGER NOT NULL,
	email VARCHAR(320) NOT NULL,
	password_hash VARCHAR(255) NOT NULL,
	role VARCHAR(16) NOT NULL,
	created_at DATETIME NOT NULL,
	disabled BOOLEAN NOT NULL,
	language VARCHAR(16),
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_users_email ON users (email);

CREATE TABLE auth_tokens (
	id INTEGER NOT NULL,
	token_sha256 VARCHAR(64) NOT NULL,
	user_id INTEGER NOT NULL,
	kind VARCHAR(16) NOT NULL,
	csrf_token VARCHAR(64),
	created_at DATETIME NOT NULL,
	expires_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE UNIQUE INDEX ix_auth_tokens_token_sha256 ON auth_tokens (token_sha256);

CREATE INDEX ix_auth_tokens_user_id ON auth_tokens (user_id);

CREATE TABLE bank_questions (
	id INTEGER NOT NULL,
	family VARCHAR(40) NOT NULL,
	language VARCHAR(20) NOT NULL,
	kind VARCHAR(20) NOT NULL,
	text VARCHAR(2000) NOT NULL,
	scenario VARCHAR(4000) NOT NULL,
	dimensions JSON NOT NULL,
	time_limit_s INTEGER NOT NULL,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE INDEX ix_bank_questions_family ON bank_questions (family);

CREATE TABLE candidates (
	id INTEGER NOT NULL,
	name VARCHAR(200) NOT NULL,
	email VARCHAR(320) NOT NULL,
	resume_text VARCHAR(100000) NOT NULL,
	time_zone VARCHAR(64) NOT NULL,
	education_level VARCHAR(16) NOT NULL,
	years_experience FLOAT,
	current_title VARCHAR(200) NOT NULL,
	status VARCHAR(32) NOT NULL,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE INDEX ix_candidates_created_by ON candidates (created_by);

CREATE UNIQUE INDEX ix_candidates_email ON candidates (email);

CREATE TABLE jobs (
	id INTEGER NOT NULL,
	title VARCHAR(200) NOT NULL,
	language VARCHAR(16) NOT NULL,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	analyze_expression BOOLEAN NOT NULL,
	analyze_eye_contact BOOLEAN NOT NULL,
	analyze_posture BOOLEAN NOT NULL,
	jurisdiction VARCHAR(32) NOT NULL,
	version INTEGER NOT NULL,
	archived_at DATETIME,
	family VARCHAR(40) NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE INDEX ix_jobs_created_by ON jobs (created_by);

CREATE INDEX ix_jobs_family ON jobs (family);

CREATE TABLE mail_templates (
	kind VARCHAR(16) NOT NULL,
	subject VARCHAR(300) NOT NULL,
	body VARCHAR(20000) NOT NULL,
	updated_by INTEGER,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (kind),
	FOREIGN KEY(updated_by) REFERENCES users (id)
);

CREATE TABLE webhooks (
	id INTEGER NOT NULL,
	url VARCHAR(2000) NOT NULL,
	secret_sealed VARCHAR(512) NOT NULL,
	events JSON NOT NULL,
	active BOOLEAN NOT NULL,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE TABLE demographics (
	candidate_id INTEGER NOT NULL,
	sex VARCHAR(64) NOT NULL,
	race_ethnicity VARCHAR(64) NOT NULL,
	age_band VARCHAR(16) NOT NULL,
	source VARCHAR(16) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (candidate_id),
	FOREIGN KEY(candidate_id) REFERENCES candidates (id)
);

CREATE TABLE dimensions (
	id INTEGER NOT NULL,
	job_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	name VARCHAR(100) NOT NULL,
	description VARCHAR(2000) NOT NULL,
	keywords JSON NOT NULL,
	weight FLOAT NOT NULL,
	retired BOOLEAN NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (job_id, name),
	FOREIGN KEY(job_id) REFERENCES jobs (id)
);

CREATE INDEX ix_dimensions_job_id ON dimensions (job_id);

CREATE TABLE job_access (
	job_id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	granted_by INTEGER NOT NULL,
	granted_at DATETIME NOT NULL,
	PRIMARY KEY (job_id, user_id),
	FOREIGN KEY(job_id) REFERENCES jobs (id),
	FOREIGN KEY(user_id) REFERENCES users (id),
	FOREIGN KEY(granted_by) REFERENCES users (id)
);

CREATE TABLE job_versions (
	job_id INTEGER NOT NULL,
	version INTEGER NOT NULL,
	data JSON NOT NULL,
	note VARCHAR(500) NOT NULL,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (job_id, version),
	FOREIGN KEY(job_id) REFERENCES jobs (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE TABLE past_interviews (
	id INTEGER NOT NULL,
	candidate_id INTEGER NOT NULL,
	job_id INTEGER NOT NULL,
	interviewed_at DATETIME NOT NULL,
	decision VARCHAR(32) NOT NULL,
	scores JSON NOT NULL,
	overall FLOAT,
	imported_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(candidate_id) REFERENCES candidates (id),
	FOREIGN KEY(job_id) REFERENCES jobs (id),
	FOREIGN KEY(imported_by) REFERENCES users (id)
);

CREATE INDEX ix_past_interviews_candidate_id ON past_interviews (candidate_id);

CREATE INDEX ix_past_interviews_job_id ON past_interviews (job_id);

CREATE TABLE recalibrations (
	id INTEGER NOT NULL,
	job_id INTEGER NOT NULL,
	state VARCHAR(16) NOT NULL,
	base_version INTEGER NOT NULL,
	current JSON NOT NULL,
	proposed JSON NOT NULL,
	analysis JSON NOT NULL,
	allowed BOOLEAN NOT NULL,
	reason VARCHAR(2000) NOT NULL,
	override_reason VARCHAR(2000) NOT NULL,
	applied_version INTEGER,
	rollback_version INTEGER,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	applied_at DATETIME,
	rolled_back_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(job_id) REFERENCES jobs (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE INDEX ix_recalibrations_job_id ON recalibrations (job_id);

CREATE INDEX ix_recalibrations_state ON recalibrations (state);

CREATE TABLE templates (
	id INTEGER NOT NULL,
	job_id INTEGER NOT NULL,
	name VARCHAR(200) NOT NULL,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	version INTEGER NOT NULL,
	archived_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(job_id) REFERENCES jobs (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE INDEX ix_templates_job_id ON templates (job_id);

CREATE TABLE validity_snapshots (
	id INTEGER NOT NULL,
	job_id INTEGER NOT NULL,
	computed_at DATETIME NOT NULL,
	"trigger" VARCHAR(16) NOT NULL,
	data JSON NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(job_id) REFERENCES jobs (id)
);

CREATE INDEX ix_validity_snapshots_computed_at ON validity_snapshots (computed_at);

CREATE INDEX ix_validity_snapshots_job_id ON validity_snapshots (job_id);

CREATE TABLE webhook_deliveries (
	id INTEGER NOT NULL,
	webhook_id INTEGER NOT NULL,
	event VARCHAR(64) NOT NULL,
	payload JSON NOT NULL,
	state VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at DATETIME,
	last_status INTEGER,
	last_error VARCHAR(1000) NOT NULL,
	created_at DATETIME NOT NULL,
	delivered_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(webhook_id) REFERENCES webhooks (id)
);

CREATE INDEX ix_webhook_deliveries_next_attempt_at ON webhook_deliveries (next_attempt_at);

CREATE INDEX ix_webhook_deliveries_state ON webhook_deliveries (state);

CREATE INDEX ix_webhook_deliveries_webhook_id ON webhook_deliveries (webhook_id);

CREATE TABLE invitations (
	id INTEGER NOT NULL,
	token_sha256 VARCHAR(64) NOT NULL,
	token_issued_at DATETIME NOT NULL,
	link_revoked_at DATETIME,
	token_sealed VARCHAR(512),
	reminder_queued_at DATETIME,
	template_id INTEGER NOT NULL,
	candidate_id INTEGER NOT NULL,
	deadline DATETIME NOT NULL,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(template_id) REFERENCES templates (id),
	FOREIGN KEY(candidate_id) REFERENCES candidates (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE INDEX ix_invitations_candidate_id ON invitations (candidate_id);

CREATE INDEX ix_invitations_template_id ON invitations (template_id);

CREATE UNIQUE INDEX ix_invitations_token_sha256 ON invitations (token_sha256);

CREATE TABLE questions (
	id INTEGER NOT NULL,
	template_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	text VARCHAR(2000) NOT NULL,
	time_limit_s INTEGER NOT NULL,
	retired BOOLEAN NOT NULL,
	kind VARCHAR(20) NOT NULL,
	scenario VARCHAR(4000) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (template_id, position),
	FOREIGN KEY(template_id) REFERENCES templates (id)
);

CREATE INDEX ix_questions_template_id ON questions (template_id);

CREATE TABLE scoring_rules (
	id INTEGER NOT NULL,
	dimension_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	signal VARCHAR(120) NOT NULL,
	op VARCHAR(2) NOT NULL,
	value FLOAT NOT NULL,
	points FLOAT NOT NULL,
	scope VARCHAR(16) NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(dimension_id) REFERENCES dimensions (id)
);

CREATE INDEX ix_scoring_rules_dimension_id ON scoring_rules (dimension_id);

CREATE TABLE template_versions (
	template_id INTEGER NOT NULL,
	version INTEGER NOT NULL,
	data JSON NOT NULL,
	note VARCHAR(500) NOT NULL,
	created_by INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (template_id, version),
	FOREIGN KEY(template_id) REFERENCES templates (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE TABLE interviews (
	id INTEGER NOT NULL,
	invitation_id INTEGER NOT NULL,
	candidate_id INTEGER NOT NULL,
	template_id INTEGER NOT NULL,
	job_id INTEGER NOT NULL,
	state VARCHAR(16) NOT NULL,
	question_index INTEGER NOT NULL,
	question_count INTEGER NOT NULL,
	consent BOOLEAN,
	created_at DATETIME NOT NULL,
	started_at DATETIME,
	completed_at DATETIME,
	question_used_s FLOAT NOT NULL,
	question_extra_s FLOAT NOT NULL,
	job_version INTEGER NOT NULL,
	template_version INTEGER NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (invitation_id),
	FOREIGN KEY(invitation_id) REFERENCES invitations (id),
	FOREIGN KEY(candidate_id) REFERENCES candidates (id),
	FOREIGN KEY(template_id) REFERENCES templates (id),
	FOREIGN KEY(job_id) REFERENCES jobs (id)
);

CREATE INDEX ix_interviews_candidate_id ON interviews (candidate_id);

CREATE INDEX ix_interviews_job_id ON interviews (job_id);

CREATE INDEX ix_interviews_state ON interviews (state);

CREATE INDEX ix_interviews_template_id ON interviews (template_id);

CREATE TABLE outbound_mail (
	id INTEGER NOT NULL,
	kind VARCHAR(16) NOT NULL,
	invitation_id INTEGER,
	to_addr VARCHAR(320) NOT NULL,
	subject VARCHAR(300) NOT NULL,
	body_text VARCHAR(40000) NOT NULL,
	body_html VARCHAR(80000) NOT NULL,
	link_base VARCHAR(300) NOT NULL,
	state VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at DATETIME,
	last_error VARCHAR(1000) NOT NULL,
	created_by INTEGER,
	created_at DATETIME NOT NULL,
	sent_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(invitation_id) REFERENCES invitations (id),
	FOREIGN KEY(created_by) REFERENCES users (id)
);

CREATE INDEX ix_outbound_mail_invitation_id ON outbound_mail (invitation_id);

CREATE INDEX ix_outbound_mail_next_attempt_at ON outbound_mail (next_attempt_at);

CREATE INDEX ix_outbound_mail_state ON outbound_mail (state);

CREATE TABLE question_dimensions (
	question_id INTEGER NOT NULL,
	dimension_id INTEGER NOT NULL,
	weight FLOAT NOT NULL,
	PRIMARY KEY (question_id, dimension_id),
	FOREIGN KEY(question_id) REFERENCES questions (id),
	FOREIGN KEY(dimension_id) REFERENCES dimensions (id)
);

CREATE TABLE clip_views (
	interview_id INTEGER NOT NULL,
	clip_id VARCHAR(64) NOT NULL,
	user_id INTEGER NOT NULL,
	viewed_at DATETIME NOT NULL,
	acknowledged BOOLEAN NOT NULL,
	reason VARCHAR(500) NOT NULL,
	PRIMARY KEY (interview_id, clip_id, user_id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE TABLE consent_records (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	kind VARCHAR(16) NOT NULL,
	notice_id VARCHAR(32) NOT NULL,
	notice_version VARCHAR(32) NOT NULL,
	language VARCHAR(16) NOT NULL,
	text_sha256 VARCHAR(64) NOT NULL,
	answer BOOLEAN NOT NULL,
	ts DATETIME NOT NULL,
	withdrawn_at DATETIME,
	PRIMARY KEY (id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);

CREATE INDEX ix_consent_records_interview_id ON consent_records (interview_id);

CREATE TABLE decision_changes (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	old VARCHAR(32) NOT NULL,
	new VARCHAR(32) NOT NULL,
	reason VARCHAR(2000) NOT NULL,
	ts DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE INDEX ix_decision_changes_interview_id ON decision_changes (interview_id);

CREATE TABLE decisions (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	decision VARCHAR(32) NOT NULL,
	note VARCHAR(5000) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (interview_id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE TABLE employees (
	id INTEGER NOT NULL,
	candidate_id INTEGER NOT NULL,
	job_id INTEGER NOT NULL,
	interview_id INTEGER,
	past_interview_id INTEGER,
	hired_at DATETIME NOT NULL,
	start_date DATETIME,
	left_at DATETIME,
	left_voluntary BOOLEAN,
	source VARCHAR(16) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (candidate_id),
	FOREIGN KEY(candidate_id) REFERENCES candidates (id),
	FOREIGN KEY(job_id) REFERENCES jobs (id),
	UNIQUE (interview_id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id),
	UNIQUE (past_interview_id),
	FOREIGN KEY(past_interview_id) REFERENCES past_interviews (id)
);

CREATE INDEX ix_employees_job_id ON employees (job_id);

CREATE TABLE interventions (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	ts DATETIME NOT NULL,
	action VARCHAR(16) NOT NULL,
	question_index INTEGER,
	seconds FLOAT,
	note VARCHAR(2000) NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE INDEX ix_interventions_interview_id ON interventions (interview_id);

CREATE TABLE interview_weights (
	interview_id INTEGER NOT NULL,
	question_id INTEGER NOT NULL,
	dimension_id INTEGER NOT NULL,
	base_weight FLOAT NOT NULL,
	weight FLOAT NOT NULL,
	matched_keywords JSON NOT NULL,
	PRIMARY KEY (interview_id, question_id, dimension_id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id),
	FOREIGN KEY(question_id) REFERENCES questions (id),
	FOREIGN KEY(dimension_id) REFERENCES dimensions (id)
);

CREATE TABLE question_signals (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	question_index INTEGER NOT NULL,
	attempt INTEGER NOT NULL,
	signals JSON NOT NULL,
	timeline JSON NOT NULL,
	superseded BOOLEAN NOT NULL,
	skipped BOOLEAN NOT NULL,
	fault BOOLEAN NOT NULL,
	paused_s FLOAT NOT NULL,
	skipped_by_rule BOOLEAN NOT NULL,
	live_start_s FLOAT,
	live_end_s FLOAT,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (interview_id, question_index, attempt),
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);

CREATE INDEX ix_question_signals_interview_id ON question_signals (interview_id);

CREATE TABLE reports (
	interview_id INTEGER NOT NULL,
	built_at DATETIME NOT NULL,
	data JSON NOT NULL,
	PRIMARY KEY (interview_id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);

CREATE TABLE review_notes (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	user_id INTEGER NOT NULL,
	text VARCHAR(5000) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);

CREATE INDEX ix_review_notes_interview_id ON review_notes (interview_id);

CREATE TABLE scores (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	dimension_id INTEGER NOT NULL,
	question_index INTEGER,
	score FLOAT NOT NULL,
	evidence JSON NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id),
	FOREIGN KEY(dimension_id) REFERENCES dimensions (id)
);

CREATE INDEX ix_scores_interview_id ON scores (interview_id);

CREATE TABLE state_changes (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	ts DATETIME NOT NULL,
	from_state VARCHAR(16) NOT NULL,
	to_state VARCHAR(16) NOT NULL,
	reason VARCHAR(500) NOT NULL,
	code VARCHAR(32) NOT NULL,
	actor_kind VARCHAR(16) NOT NULL,
	actor_id INTEGER,
	PRIMARY KEY (id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);

CREATE INDEX ix_state_changes_interview_id ON state_changes (interview_id);

CREATE TABLE transcript_segments (
	id INTEGER NOT NULL,
	interview_id INTEGER NOT NULL,
	question_index INTEGER NOT NULL,
	attempt INTEGER NOT NULL,
	text VARCHAR NOT NULL,
	start_s FLOAT NOT NULL,
	end_s FLOAT NOT NULL,
	words JSON NOT NULL,
	live BOOLEAN NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(interview_id) REFERENCES interviews (id)
);

CREATE INDEX ix_transcript_segments_interview_id ON transcript_segments (interview_id);

CREATE TABLE outcome_records (
	id INTEGER NOT NULL,
	employee_id INTEGER NOT NULL,
	metric VARCHAR(64) NOT NULL,
	period_end DATETIME NOT NULL,
	value FLOAT NOT NULL,
	source VARCHAR(16) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (employee_id, metric, period_end),
	FOREIGN KEY(employee_id) REFERENCES employees (id)
);

CREATE INDEX ix_outcome_records_employee_id ON outcome_records (employee_id);

CREATE INDEX ix_outcome_records_metric ON outcome_records (metric);

CREATE TABLE performance_reviews (
	id INTEGER NOT NULL,
	employee_id INTEGER NOT NULL,
	period_end DATETIME NOT NULL,
	rating FLOAT NOT NULL,
	competencies JSON NOT NULL,
	source VARCHAR(16) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (employee_id, period_end),
	FOREIGN KEY(employee_id) REFERENCES employees (id)
);

CREATE INDEX ix_performance_reviews_employee_id ON performance_reviews (employee_id);

CREATE TABLE recruitment_records (
	employee_id INTEGER NOT NULL,
	data JSON NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (employee_id),
	FOREIGN KEY(employee_id) REFERENCES employees (id)
);

CREATE TABLE training_records (
	id INTEGER NOT NULL,
	employee_id INTEGER NOT NULL,
	course VARCHAR(200) NOT NULL,
	completed_at DATETIME NOT NULL,
	result FLOAT,
	source VARCHAR(16) NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(employee_id) REFERENCES employees (id)
);

CREATE INDEX ix_training_records_employee_id ON training_records (employee_id);
