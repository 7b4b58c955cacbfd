-- Pricing rules (issue 17 item 5, README "Price plans", "Pricing rules"): the rules
-- themselves live in the plan version's definition (`pricingRules`, so a finalized
-- version's rules are as immutable as its cards) and in an association's overrides;
-- what they did to an invoice is its log (Togai's `PricingRulesLog` list, served by
-- GET /invoice/{id}/pricing_rules_logs), written with the invoice's lines.
ALTER TABLE invoices ADD COLUMN pricing_rules_log JSONB NOT NULL DEFAULT '[]';
