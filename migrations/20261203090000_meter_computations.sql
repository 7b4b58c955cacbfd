-- Usage meter computations (Togai's `computations`: ordered JSON-logic matcher /
-- computation pairs, README "HTTP API", "Usage meter computations"). '[]' is the simple
-- case: COUNT of the events, or SUM of `attribute`, over the events matching `filters`.
-- A meter either sums an attribute or has computations, never both.
ALTER TABLE usage_meters
    ADD COLUMN computations JSONB NOT NULL DEFAULT '[]',
    DROP CONSTRAINT usage_meters_sum_attribute_check,
    ADD CONSTRAINT usage_meters_sum_attribute_check
        CHECK (aggregation <> 'SUM' OR attribute IS NOT NULL OR computations <> '[]'::jsonb),
    ADD CONSTRAINT usage_meters_attribute_or_computations_check
        CHECK (attribute IS NULL OR computations = '[]'::jsonb);
