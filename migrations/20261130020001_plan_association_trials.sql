-- A free trial at the start of a plan period: its first `trial_period_days` local
-- days, [effective_from, effective_from + trial_period_days), are not billed; billing
-- starts on the day after the trial, in the cycles the attach date gives the period
-- (see README "Trial periods"). NULL: no trial.
ALTER TABLE plan_associations
    ADD COLUMN trial_period_days INTEGER NULL
        CONSTRAINT plan_associations_trial_check CHECK (trial_period_days > 0);
