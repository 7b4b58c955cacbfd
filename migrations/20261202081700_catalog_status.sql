-- Event schemas and usage meters get a status and schemas a version (README "HTTP
-- API", "Event schemas and usage meters"; Togai's schema and meter lifecycles:
-- https://docs.togai.com/api-reference/event-schemas/update-an-event-schema,
-- .../deactivate-an-event-schema, .../usage-meters/deactivate-usage-meter).
-- - status: ACTIVE (as every existing row is: they were all usable) or INACTIVE. An
--   INACTIVE schema accepts no events; an INACTIVE meter cannot be finalized into a plan.
-- - event_schemas.version: the current version, 1 at creation; a change of its
--   attributes or dimensions (additions only) makes the next one, and the one it
--   replaces is kept in event_schema_versions (Togai's ARCHIVED versions).

ALTER TABLE event_schemas
    ADD COLUMN version    INTEGER     NOT NULL DEFAULT 1,
    ADD COLUMN status     TEXT        NOT NULL DEFAULT 'ACTIVE',
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD CONSTRAINT event_schemas_version_check CHECK (version >= 1),
    ADD CONSTRAINT event_schemas_status_check CHECK (status IN ('ACTIVE', 'INACTIVE'));

-- The versions a schema had before its current one, each as it was.
CREATE TABLE event_schema_versions (
    org_id      TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    version     INTEGER     NOT NULL,
    attributes  TEXT[]      NOT NULL,
    dimensions  TEXT[]      NOT NULL,
    -- When this version began, and when the next one replaced it.
    created_at  TIMESTAMPTZ NOT NULL,
    archived_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT event_schema_versions_pkey PRIMARY KEY (org_id, name, version),
    CONSTRAINT event_schema_versions_schema_fk FOREIGN KEY (org_id, name)
        REFERENCES event_schemas (org_id, name) ON DELETE CASCADE,
    CONSTRAINT event_schema_versions_version_check CHECK (version >= 1)
);

ALTER TABLE usage_meters
    ADD COLUMN status     TEXT        NOT NULL DEFAULT 'ACTIVE',
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD CONSTRAINT usage_meters_status_check CHECK (status IN ('ACTIVE', 'INACTIVE'));
